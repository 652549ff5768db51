"""The cloud's services, composed once per app, with explicit start() and stop().

Nothing here starts in a constructor; :meth:`Services.start` opens the metadata database and
the store, :meth:`Services.stop` closes them. Other features (alerts, webhooks, monitors) add
their services here and are started and stopped with the rest.
"""

from __future__ import annotations

import logging

from sqlalchemy.exc import SQLAlchemyError

from cloud.alerting.core.clock import Clock
from cloud.alerting.core.db import LazyEngine
from cloud.alerting.service import Alerting
from cloud.errors import MetadataError
from cloud.ingest import IngestService
from cloud.meta import DeadLetters, DeviceRegistry, IdempotencyRepo, MetaDB, TokenRepo
from cloud.metrics import CloudMetrics
from cloud.query import QueryService
from cloud.settings import CloudSettings
from cloud.store import TimeSeriesStore, create_store
from cloud.store.window import StoreSeriesSource

log = logging.getLogger(__name__)


class Services:
    """Everything the API handlers use; handlers receive narrow parts through dependencies."""

    def __init__(self, settings: CloudSettings, store: TimeSeriesStore | None = None,
                 clock: Clock | None = None) -> None:
        self.settings = settings
        self.metrics = CloudMetrics()
        self.meta = MetaDB(settings.metadata_url(), echo=settings.metadata.echo)
        self.store = store if store is not None else create_store(settings)
        limits = settings.limits
        self.tokens = TokenRepo(self.meta)
        self.idempotency = IdempotencyRepo(self.meta, limits.inflight_lease_s,
                                           limits.idempotency_ttl_s)
        self.devices = DeviceRegistry(self.meta, settings.metadata.registry_flush_s)
        self.alerting = Alerting(settings.alerting, LazyEngine(lambda: self.meta.engine),
                                 StoreSeriesSource(self.store), self.metrics, clock)
        self.dead_letters = DeadLetters(self.meta)
        self.ingest = IngestService(self.store, self.idempotency, self.devices,
                                    self.dead_letters, self.metrics, limits)
        self.ingest.add_listener(self.alerting.on_stored)
        self.queries = QueryService(self.store, limits, self.metrics)

    def start(self) -> None:
        self.meta.start()
        try:
            self.store.start()
        except Exception:
            self.meta.stop()
            raise
        self.idempotency.purge_expired()
        self.alerting.start()

    def stop(self) -> None:
        self.alerting.stop()
        self.store.stop()
        try:
            self.devices.flush()
        except (SQLAlchemyError, MetadataError):  # the database is gone, these updates too
            log.exception("could not write the pending device registry updates")
        self.meta.stop()
