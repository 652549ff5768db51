"""Builds the alerting services on one metadata engine and plugs them into the cloud app.

``cloud.services.Services`` builds one :class:`Alerting` on the metadata database (through a
:class:`~cloud.alerting.core.db.LazyEngine`, as the engine exists only once started) and the
time-series store; ``create_app`` includes the alerting routers of ``cloud.api`` (which reach
these services through ``app.state``) and calls :meth:`Alerting.install` for the middleware;
the ingest service calls :meth:`Alerting.on_stored` after the store accepted a batch
(``add_listener``); the services' start/stop run :meth:`Alerting.start` / :meth:`Alerting.stop`.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI

from cloud.alerting.alerts import tables as _alerts_tables
from cloud.alerting.alerts.lifecycle import AlertManager
from cloud.alerting.alerts.silences import SilenceStore
from cloud.alerting.core.clock import Clock, SystemClock
from cloud.alerting.core.db import Database
from cloud.alerting.core.listener import IngestListener, StoredBatchLike
from cloud.alerting.evaluator import RuleEvaluator
from cloud.alerting.metrics import AlertingCollector
from cloud.alerting.middleware import IngestOutcomeMiddleware
from cloud.alerting.monitors import (
    FreshnessCheck,
    PipelineHealth,
    SchemaCheck,
    SlaCheck,
    VolumeCheck,
)
from cloud.alerting.monitors import tables as _monitors_tables
from cloud.alerting.monitors.recorder import IngestRecorder
from cloud.alerting.rules import tables as _rules_tables
from cloud.alerting.rules.base import SeriesSource
from cloud.alerting.rules.context import StoreContext
from cloud.alerting.rules.loadcheck import RuleLoadCheck
from cloud.alerting.rules.store import RuleRepository
from cloud.alerting.settings import AlertingSettings
from cloud.alerting.webhooks import tables as _webhooks_tables
from cloud.alerting.webhooks.endpoints import EndpointStore
from cloud.alerting.webhooks.outbox import Outbox
from cloud.alerting.webhooks.worker import DeliveryWorker
from cloud.metrics import CloudMetrics

log = logging.getLogger(__name__)

#: Every subpackage declares its own tables on the cloud's metadata; these are all of them.
#: The database's schema is made by the versioned migrations (``cloud/meta/migrations``),
#: which the cloud's metadata database applies when it starts.
TABLE_MODULES = (_monitors_tables, _rules_tables, _alerts_tables, _webhooks_tables)


class Alerting:
    """Rules, alerts, silences, webhooks and pipeline health, with explicit start/stop."""

    def __init__(
        self, settings: AlertingSettings, engine: Database, source: SeriesSource,
        metrics: CloudMetrics, clock: Clock | None = None,
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
        self.recorder = IngestRecorder(engine, s.bucket_s, s.sla_queryable_s,
                                       s.record_flush_s)
        self.health = PipelineHealth(engine, c, [
            FreshnessCheck(s.stale_after_s),
            VolumeCheck(s.bucket_s, s.volume_baseline_buckets, s.volume_drop_ratio,
                        s.volume_surge_ratio),
            SchemaCheck(s.sensor_vanished_after_s, s.schema_window_s),
            SlaCheck(s.sla_queryable_s, s.sla_target, s.sla_window_s),
            RuleLoadCheck(self.rules),
        ])
        self.context = StoreContext(engine, source, s.bucket_s)
        # Readers of the pipeline tables see what the recorder merged but did not write yet.
        self.health.before_read = self.context.before_read = self.recorder.flush
        self.evaluator = RuleEvaluator(self.rules, self.alerts, self.recorder, self.health,
                                       self.context, c, s.evaluate_every_s, metrics)
        self.worker = DeliveryWorker(self.outbox, self.endpoints, s.webhooks, c, metrics)
        metrics.add_collector(AlertingCollector(engine))
        self._started = False

    @property
    def listener(self) -> IngestListener:
        """What evaluates and records each batch the store accepted."""
        return self.evaluator

    def on_stored(self, batch: StoredBatchLike) -> None:
        """The ingest service's listener (``IngestService.add_listener``): hands the accepted
        readings and anomalies of one stored batch to :attr:`listener` (per series when the
        batch is held that way: no reading becomes an object)."""
        series = getattr(batch, "series", ())
        if series:
            self.evaluator.on_ingested_series(series, batch.anomalies)
        else:
            self.evaluator.on_ingested(batch.points, batch.anomalies)

    def install(self, app: FastAPI) -> None:
        """Add the ingest-availability middleware to ``app`` (the routers live in
        ``cloud.api`` and reach these services through ``app.state``)."""
        app.add_middleware(IngestOutcomeMiddleware, record=self._record_request)

    def _record_request(self, ok: bool) -> None:
        self.recorder.record_request(ok, self.clock.now_ms())

    def start(self) -> None:
        """Start the scheduled evaluator and the delivery worker (the tables exist: the
        metadata database's migrations made them)."""
        if self.settings.enabled and not self._started:
            self.evaluator.start()
            self.worker.start()
            self._started = True

    def stop(self) -> None:
        """Stop the background services and close the worker's HTTP client (idempotent);
        write the statistics still merged in memory."""
        self.evaluator.stop()
        self.worker.stop()
        try:
            self.recorder.flush()
        except Exception:
            log.exception("writing the last pipeline statistics failed")
        self._started = False
