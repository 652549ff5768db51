"""Fixtures shared by the gateway tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.cloud_sink import CloudSink


@pytest.fixture
def sink() -> Iterator[CloudSink]:
    """A recording ingest server (the cloud side) that can fail on demand."""
    s = CloudSink()
    s.up()
    yield s
    s.down()
