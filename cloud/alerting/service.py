"""Builds the alerting services on one metadata engine and plugs them into the cloud app.

``cloud.services.Services`` builds one :class:`Alerting` on the metadata database (through a
:class:`~cloud.alerting.db.LazyEngine`, as the engine exists only once started) and the
time-series store; ``create_app`` calls :meth:`Alerting.install`; the ingest service calls
:meth:`Alerting.on_stored` after the store accepted a batch (``add_listener``); the services'
start/stop run :meth:`Alerting.start` / :meth:`Alerting.stop`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, FastAPI

from cloud.alerting.clock import Clock, SystemClock
from cloud.alerting.db import Database
from cloud.alerting.listener import IngestListener
from cloud.alerting.middleware import IngestOutcomeMiddleware
from cloud.alerting.settings import AlertingSettings
from cloud.alerting.tables import create_tables
from cloud.alerts.lifecycle import AlertManager
from cloud.alerts.silences import SilenceStore
from cloud.monitors import FreshnessCheck, PipelineHealth, SchemaCheck, SlaCheck, VolumeCheck
from cloud.monitors.recorder import IngestRecorder
from cloud.rules.base import SeriesSource
from cloud.rules.context import StoreContext
from cloud.rules.evaluator import RuleEvaluator
from cloud.rules.store import RuleRepository
from cloud.webhooks.endpoints import EndpointStore
from cloud.webhooks.outbox import Outbox
from cloud.webhooks.worker import DeliveryWorker

if TYPE_CHECKING:
    from cloud.ingest import StoredBatch


class Alerting:
    """Rules, alerts, silences, webhooks and pipeline health, with explicit start/stop."""

    def __init__(
        self, settings: AlertingSettings, engine: Database, source: SeriesSource,
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.clock = clock or SystemClock()
        s, c = settings, self.clock
        self.rules = RuleRepository(engine, c, s.rules_refresh_s)
        self.silences = SilenceStore(engine, c)
        self.endpoints = EndpointStore(engine, c, s.webhooks)
        self.outbox = Outbox(engine, c, self.endpoints)
        self.alerts = AlertManager(engine, c, self.silences, self.outbox)
        self.recorder = IngestRecorder(engine, s.bucket_s, s.sla_queryable_s)
        self.health = PipelineHealth(engine, c, [
            FreshnessCheck(s.stale_after_s),
            VolumeCheck(s.bucket_s, s.volume_baseline_buckets, s.volume_drop_ratio,
                        s.volume_surge_ratio),
            SchemaCheck(s.sensor_vanished_after_s, s.schema_window_s),
            SlaCheck(s.sla_queryable_s, s.sla_target, s.sla_window_s),
        ])
        self.context = StoreContext(engine, source, s.bucket_s)
        self.evaluator = RuleEvaluator(self.rules, self.alerts, self.recorder, self.health,
                                       self.context, c, s.evaluate_every_s)
        self.worker = DeliveryWorker(self.outbox, self.endpoints, s.webhooks, c)
        self._started = False

    @property
    def listener(self) -> IngestListener:
        """What evaluates and records each batch the store accepted."""
        return self.evaluator

    def on_stored(self, batch: StoredBatch) -> None:
        """The ingest service's listener (``IngestService.add_listener``): hands the accepted
        readings and anomalies of one stored batch to :attr:`listener`."""
        self.evaluator.on_ingested(batch.points, batch.anomalies)

    def routers(self) -> list[APIRouter]:
        """The alerting API: rules, alerts, silences, webhooks, pipeline health."""
        # Imported here: ``cloud.api`` imports the services, which build this class.
        from cloud.api import alerts as alerts_api
        from cloud.api import pipeline as pipeline_api
        from cloud.api import rules as rules_api
        from cloud.api import silences as silences_api
        from cloud.api import webhooks as webhooks_api

        return [rules_api.router(self.rules), alerts_api.router(self.alerts),
                silences_api.router(self.silences),
                webhooks_api.router(self.endpoints, self.outbox),
                pipeline_api.router(self.health)]

    def install(self, app: FastAPI) -> None:
        """Add the routers and the ingest-availability middleware to ``app``."""
        for api in self.routers():
            app.include_router(api)
        app.add_middleware(IngestOutcomeMiddleware, record=self._record_request)

    def _record_request(self, ok: bool) -> None:
        self.recorder.record_request(ok, self.clock.now_ms())

    def create_tables(self) -> None:
        """Create the alerting tables (idempotent); :meth:`start` does it too."""
        create_tables(self.engine)

    def start(self) -> None:
        """Create tables, then start the scheduled evaluator and the delivery worker."""
        self.create_tables()
        if self.settings.enabled and not self._started:
            self.evaluator.start()
            self.worker.start()
            self._started = True

    def stop(self) -> None:
        """Stop the background services and close the worker's HTTP client (idempotent)."""
        self.evaluator.stop()
        self.worker.stop()
        self._started = False
