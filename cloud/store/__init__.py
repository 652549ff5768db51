"""Time-series stores: one interface (:class:`TimeSeriesStore`), two backends.

:class:`SQLiteStore` is the embedded default; :class:`InfluxDBStore` talks to InfluxDB's
v1-compatible HTTP API. :func:`create_store` picks one from the settings.
"""

from __future__ import annotations

from cloud.settings import CloudSettings
from cloud.store.base import (
    AGGREGATES,
    AnomalyPoint,
    Point,
    Rejection,
    SeriesResult,
    TimeSeriesStore,
    WriteResult,
)
from cloud.store.influxdb import InfluxDBStore
from cloud.store.sqlite import SQLiteStore


def create_store(settings: CloudSettings) -> TimeSeriesStore:
    """The store the settings name (not started)."""
    if settings.store.kind == "influxdb":
        return InfluxDBStore(settings.store)
    return SQLiteStore(settings.series_path())


__all__ = [
    "AGGREGATES",
    "AnomalyPoint",
    "InfluxDBStore",
    "Point",
    "Rejection",
    "SQLiteStore",
    "SeriesResult",
    "TimeSeriesStore",
    "WriteResult",
    "create_store",
]
