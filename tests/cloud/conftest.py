"""Fixtures for the cloud tests: stores over both backends, apps served by real uvicorn."""

from __future__ import annotations

import gzip
import json

import httpx
import pytest

from cloud.app import create_app
from cloud.services import Services
from cloud.settings import StoreSettings, load_settings
from cloud.store import InfluxDBStore, SQLiteStore


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


class CloudClient:
    """A running cloud app (real uvicorn) plus an HTTP client and a gateway token."""

    def __init__(self, app, server, gateway_id: str = "gw-1") -> None:
        self.app = app
        self.server = server
        self.services = app.state.services
        self.url = server.url
        self.http = httpx.Client(base_url=server.url, timeout=30)
        self.gateway_id = gateway_id
        _info, self.token = self.services.tokens.create(gateway_id)

    def batch(self, readings, anomalies=(), batch_id: str = "b-1", gateway_id=None) -> dict:
        return {"gateway_id": gateway_id or self.gateway_id, "batch_id": batch_id,
                "sent_at": 1_700_000_000_000, "readings": list(readings),
                "anomalies": list(anomalies)}

    def ingest(self, body, key: str | None = "key-1", token: str | None = None,
               compress: bool = False, headers: dict | None = None) -> httpx.Response:
        h = {"Authorization": f"Bearer {token or self.token}", "Content-Type": "application/json"}
        if key is not None:
            h["Idempotency-Key"] = key
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        if compress:
            data = gzip.compress(data)
            h["Content-Encoding"] = "gzip"
        h.update(headers or {})
        return self.http.post("/v1/ingest", content=data, headers=h)

    def get(self, path: str, **params) -> httpx.Response:
        return self.http.get(path, params=params)

    def close(self) -> None:
        self.http.close()


def reading(device="d1", sensor="temp", ts=1_700_000_000_000, value=1.0, seq=0, **kw) -> dict:
    return {"device": device, "sensor": sensor, "ts": ts, "value": value, "seq": seq, **kw}


@pytest.fixture
def make_cloud(tmp_path, http):
    """``make_cloud(kind="sqlite"|"influxdb", store=None, **limits)`` -> a served CloudClient."""
    clients = []

    def make(kind: str = "sqlite", store=None, influx=None, metadata_url: str = "",
             **limits) -> CloudClient:
        overrides: dict = {"data_dir": tmp_path / f"cloud{len(clients)}",
                           "metadata": {"url": metadata_url}}
        if kind == "influxdb":
            overrides["store"] = {"kind": "influxdb", "url": influx.url,
                                  "database": influx.database, "timeout_s": 5}
        if limits:
            overrides["limits"] = limits
        settings = load_settings(None, **overrides)
        app = create_app(settings, Services(settings, store=store))
        client = CloudClient(app, http(app))
        clients.append(client)
        return client

    try:
        yield make
    finally:
        for c in clients:
            c.close()


@pytest.fixture(params=["sqlite", pytest.param("influxdb", marks=pytest.mark.integration)])
def cloud(request, make_cloud) -> CloudClient:
    """The cloud app on each store backend (InfluxDB: a fresh database on a real influxd)."""
    if request.param == "sqlite":
        return make_cloud("sqlite")
    return make_cloud("influxdb", influx=request.getfixturevalue("influxdb"))
