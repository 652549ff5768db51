"""Fixtures that start real servers on free loopback ports and always stop them.

- ``mosquitto``: a private broker per test (persistence on; ``.restart()``, ``.kill()``).
- ``influxdb``: a fresh database on a session-wide ``influxd`` (``.server``, ``.database``).
- ``influxdb_server``: a private ``influxd`` per test, for stop/restart scenarios.
- ``postgres``: a fresh database on a session-wide PostgreSQL (``.url`` for SQLAlchemy).
- ``nats_cluster``: a private 3-node NATS cluster (JetStream, MQTT, streams R3) per test.
- ``http``: ``http(app)`` serves an ASGI app with real uvicorn on a free loopback port.
- ``make_cloud``: ``make_cloud(...)`` serves the cloud app (SQLite or InfluxDB store) with a
  gateway token (``tests.support.cloud.CloudClient``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.http import UvicornThread
from tests.support.servers import InfluxDB, Mosquitto, PostgreSQL


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    broker = Mosquitto(tmp_path / "mosquitto")
    broker.start()
    try:
        yield broker
    finally:
        broker.kill()


@pytest.fixture
def nats_cluster(tmp_path: Path) -> Iterator[Any]:
    """Three routed ``nats-server`` nodes with MQTT on; ``.urls``, ``.nodes[i].kill()/start()``."""
    from tests.support.nats import start_cluster

    cluster = start_cluster(tmp_path / "nats")
    try:
        yield cluster
    finally:
        cluster.kill()


@pytest.fixture(scope="session")
def _shared_influxdb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxDB]:
    server = InfluxDB(tmp_path_factory.mktemp("influxdb"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class InfluxDatabase:
    """One throwaway database on a running ``influxd``."""

    server: InfluxDB
    database: str

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture
def influxdb(_shared_influxdb: InfluxDB) -> Iterator[InfluxDatabase]:
    name = f"test_{uuid.uuid4().hex[:12]}"
    _shared_influxdb.create_database(name)
    try:
        yield InfluxDatabase(_shared_influxdb, name)
    finally:
        if _shared_influxdb.running:
            _shared_influxdb.query(f'DROP DATABASE "{name}"', method="POST")


@pytest.fixture
def influxdb_server(tmp_path: Path) -> Iterator[InfluxDB]:
    server = InfluxDB(tmp_path / "influxdb")
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture(scope="session")
def _shared_postgres() -> Iterator[PostgreSQL]:
    server = PostgreSQL()
    server.start()
    try:
        yield server
    finally:
        server.remove()


@dataclass
class PostgresDatabase:
    """One throwaway database on a running PostgreSQL; ``url`` is its SQLAlchemy URL."""

    server: PostgreSQL
    database: str

    @property
    def url(self) -> str:
        return self.server.url(self.database)


@pytest.fixture
def postgres(_shared_postgres: PostgreSQL) -> PostgresDatabase:
    """A fresh database on a session-wide PostgreSQL (Debian's binaries, run unprivileged)."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    _shared_postgres.create_database(name)
    return PostgresDatabase(_shared_postgres, name)


@pytest.fixture
def http() -> Iterator[Callable[[Any], UvicornThread]]:
    """``http(app)`` serves an ASGI app with real uvicorn on a free loopback port (``.url``);
    every server started is stopped after the test."""
    started: list[UvicornThread] = []

    def serve(app: Any) -> UvicornThread:
        server = UvicornThread(app)
        server.start()
        started.append(server)
        return server

    try:
        yield serve
    finally:
        for server in reversed(started):
            server.stop()


@pytest.fixture
def make_cloud(tmp_path: Path, http: Callable[[Any], UvicornThread]) -> Iterator[Any]:
    """``make_cloud(kind="sqlite"|"influxdb", store=None, influx=None, metadata_url="",
    auth=None, **limits)`` -> a :class:`tests.support.cloud.CloudClient`: the cloud app served
    by real uvicorn on a free loopback port, with an ingest token for gateway ``gw-1`` and an
    admin token (sent by its ``http`` client)."""
    from cloud.app import create_app
    from cloud.services import Services
    from cloud.settings import load_settings
    from tests.support.cloud import CloudClient

    clients: list[CloudClient] = []

    def make(kind: str = "sqlite", store: Any = None, influx: Any = None,
             metadata_url: str = "", auth: dict[str, Any] | None = None,
             **limits: Any) -> CloudClient:
        overrides: dict[str, Any] = {"data_dir": tmp_path / f"cloud{len(clients)}",
                                     "metadata": {"url": metadata_url}}
        if kind == "influxdb":
            overrides["store"] = {"kind": "influxdb", "url": influx.url,
                                  "database": influx.database, "timeout_s": 5}
        if limits:
            overrides["limits"] = limits
        if auth:
            overrides["auth"] = auth
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
