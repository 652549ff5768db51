"""Fixtures for the end-to-end and fault-injection suites: the whole system as processes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import InfluxDatabase
from tests.support.servers import InfluxDB, Mosquitto
from tests.support.stack import Stack

StackFactory = Callable[..., Stack]



@pytest.fixture
def make_stack(tmp_path: Path, mosquitto: Mosquitto,
               influxdb: InfluxDatabase) -> Iterator[StackFactory]:
    """Build and start a :class:`Stack` on the test's private broker; by default on a fresh
    database of the shared ``influxd``. Every stack is killed at the end whatever happened."""
    stacks: list[Stack] = []

    def build(influx: InfluxDB | None = None, database: str | None = None,
              **options: Any) -> Stack:
        server = influx or influxdb.server
        s = Stack(tmp_path / f"stack{len(stacks)}", mosquitto, server,
                  database or influxdb.database, **options)
        stacks.append(s)
        return s.start()

    try:
        yield build
    finally:
        for s in stacks:
            s.stop()


@pytest.fixture
def stack(make_stack: StackFactory) -> Stack:
    """A started stack with default settings (short retries for tests)."""
    return make_stack()


@pytest.fixture
def private_influx(influxdb_server: InfluxDB) -> tuple[InfluxDB, str]:
    """A private ``influxd`` (for stop/freeze scenarios) with one database."""
    influxdb_server.create_database("e2e")
    return influxdb_server, "e2e"
