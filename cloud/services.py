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
from cloud.downsample import Downsampler
from cloud.errors import MetadataError
from cloud.ingest import IngestService
from cloud.meta import (
    DeadLetters,
    DeviceOwnership,
    DeviceRegistry,
    IdempotencyRepo,
    MetaDB,
    Scope,
    TokenRepo,
)
from cloud.metrics import CloudMetrics
from cloud.query import QueryService
from cloud.settings import CloudSettings
from cloud.store import InfluxDBStore, TimeSeriesStore, create_store
from cloud.store.window import StoreSeriesSource

log = logging.getLogger(__name__)
#: The command that makes the first admin token (named in the log and on ``/readyz``).
CREATE_ADMIN = "iotgw cloud token create --scope admin --name admin"


class Services:
    """Everything the API handlers use; handlers receive narrow parts through dependencies."""

    def __init__(self, settings: CloudSettings, store: TimeSeriesStore | None = None,
                 clock: Clock | None = None) -> None:
        self.settings = settings
        self.metrics = CloudMetrics()
        self.meta = MetaDB(settings.metadata_url(), echo=settings.metadata.echo,
                           migrate=settings.metadata.auto_migrate)
        self.store = store if store is not None else create_store(settings)
        limits = settings.limits
        self.tokens = TokenRepo(self.meta, settings.auth.last_used_every_s,
                                 settings.auth.token_cache_s)
        self.ownership = DeviceOwnership(self.meta, settings.auth.owner_cache_s)
        self.idempotency = IdempotencyRepo(self.meta, limits.inflight_lease_s,
                                           limits.idempotency_ttl_s)
        self.devices = DeviceRegistry(self.meta, settings.metadata.registry_flush_s)
        self.alerting = Alerting(settings.alerting, LazyEngine(lambda: self.meta.engine),
                                 StoreSeriesSource(self.store), self.metrics, clock)
        self.dead_letters = DeadLetters(self.meta)
        self.ingest = IngestService(self.store, self.idempotency, self.devices,
                                    self.dead_letters, self.metrics, limits,
                                    ownership=self.ownership)
        self.ingest.add_listener(self.alerting.on_stored)
        self.queries = QueryService(self.store, limits, self.metrics)
        self.downsampler = (Downsampler(settings.downsample, self.store, self.metrics)
                            if settings.downsample.enabled
                            and isinstance(self.store, InfluxDBStore) else None)

    def start(self) -> None:
        self.meta.start()
        try:
            self.store.start()
        except Exception:
            self.meta.stop()
            raise
        self.idempotency.purge_expired()
        self.alerting.start()
        if self.downsampler is not None:
            self.downsampler.start()
        if self.admin_token_missing():
            log.warning("no admin token yet: create one with `%s`", CREATE_ADMIN)

    def admin_token_missing(self) -> bool:
        """Whether no usable ``admin`` token exists (``/readyz`` and the start-up log say so)."""
        return not self.tokens.has_active(Scope.ADMIN)

    def stop(self) -> None:
        if self.downsampler is not None:
            self.downsampler.stop()
        self.alerting.stop()
        self.store.stop()
        try:
            self.devices.flush()
        except (SQLAlchemyError, MetadataError):  # the database is gone, these updates too
            log.exception("could not write the pending device registry updates")
        self.meta.stop()
