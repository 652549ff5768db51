"""Fixtures for the cloud tests: stores over both backends, apps served by real uvicorn."""

from __future__ import annotations

import pytest

from cloud.settings import StoreSettings
from cloud.store import InfluxDBStore, SQLiteStore
from tests.support.cloud import CloudClient, reading

__all__ = ["CloudClient", "influx_store", "reading"]


def influx_store(url: str, database: str, **kw) -> InfluxDBStore:
    return InfluxDBStore(StoreSettings(kind="influxdb", url=url, database=database,
                                       timeout_s=5, **kw))


@pytest.fixture(params=["sqlite", pytest.param("influxdb", marks=pytest.mark.integration)])
def store(request, tmp_path):
    """Each TimeSeriesStore backend, started (InfluxDB: a fresh database on a real influxd)."""
    if request.param == "sqlite":
        s = SQLiteStore(tmp_path / "series.sqlite3")
    else:
        db = request.getfixturevalue("influxdb")
        s = influx_store(db.url, db.database)
    s.start()
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture(params=["sqlite", pytest.param("influxdb", marks=pytest.mark.integration)])
def cloud(request, make_cloud) -> CloudClient:
    """The cloud app on each store backend (InfluxDB: a fresh database on a real influxd)."""
    if request.param == "sqlite":
        return make_cloud("sqlite")
    return make_cloud("influxdb", influx=request.getfixturevalue("influxdb"))
