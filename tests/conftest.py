"""Fixtures that start real servers on free loopback ports and always stop them.

- ``mosquitto``: a private broker per test (persistence on; ``.restart()``, ``.kill()``).
- ``influxdb``: a fresh database on a session-wide ``influxd`` (``.server``, ``.database``).
- ``influxdb_server``: a private ``influxd`` per test, for stop/restart scenarios.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.servers import InfluxDB, Mosquitto


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    broker = Mosquitto(tmp_path / "mosquitto")
    broker.start()
    try:
        yield broker
    finally:
        broker.kill()


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
