"""Caches on the cloud's ingest path stay bounded however many distinct series pass through
(soak review: with a fixed fleet they plateau; with ever-new names they must not grow forever)."""

from __future__ import annotations

import time

import pytest

import cloud.meta.devices as devices_mod
import cloud.store.influxdb as influx_mod
from cloud.meta import DeviceRegistry, MetaDB
from cloud.meta.devices import SeenStream
from cloud.store import Point
from tests.cloud.conftest import influx_store


@pytest.mark.integration
def test_influx_series_prefix_cache_is_bounded(influxdb, monkeypatch):
    monkeypatch.setattr(influx_mod, "_SERIES_CACHE_MAX", 50)
    store = influx_store(influxdb.url, influxdb.database)
    store.start()
    try:
        now = int(time.time() * 1000)
        sizes = []
        for batch in range(12):  # 240 distinct series, 20 new ones per batch
            points = [Point(f"dev-{batch}-{i}", "temp", now, float(i)) for i in range(20)]
            assert not store.write(points, []).rejected
            sizes.append(store.cache_info()["series"])
        assert store.cache_info()["series_max"] == 50
        assert max(sizes) <= 50 + 20
        assert sizes[0] == 20  # it does cache
    finally:
        store.stop()


def test_device_registry_known_streams_are_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr(devices_mod, "_KNOWN_MAX", 100)
    db = MetaDB(f"sqlite:///{tmp_path / 'meta.sqlite3'}")
    db.start()
    try:
        reg = DeviceRegistry(db, flush_every_s=3600)
        sizes = []
        for batch in range(20):  # 600 distinct streams, 30 new per batch
            reg.record("gw", [SeenStream(f"d{batch}", f"s{i}", 1000 + batch) for i in range(30)])
            sizes.append(reg.cache_info()["known"])
        assert reg.cache_info()["known_max"] == 100
        assert max(sizes) <= 100 + 30
        assert len(reg.list()) == 20  # every device was still written
    finally:
        db.stop()


def test_device_registry_pending_merge_does_not_grow_with_repeats(tmp_path):
    db = MetaDB(f"sqlite:///{tmp_path / 'meta.sqlite3'}")
    db.start()
    try:
        reg = DeviceRegistry(db, flush_every_s=3600)
        fleet = [SeenStream(f"d{d}", f"s{s}", 0) for d in range(10) for s in range(5)]
        sizes = []
        for n in range(200):  # a fixed fleet, batch after batch: the pending merge plateaus
            reg.record("gw", [SeenStream(x.device, x.sensor, n) for x in fleet])
            info = reg.cache_info()
            sizes.append((info["pending_devices"], info["pending_sensors"], info["known"]))
        assert set(sizes[1:]) == {(10, 50, 50)}
    finally:
        db.stop()


@pytest.mark.integration
def test_influx_writes_leave_no_request_in_a_reference_cycle(influxdb):
    # Soak finding: each write's httpx request (with its gzip body) lived until the cyclic
    # collector ran; the cloud raises gc thresholds, so they piled up. Collector off: none left.
    import gc

    import httpx

    store = influx_store(influxdb.url, influxdb.database)
    store.start()
    now = int(time.time() * 1000)
    gc.collect()
    gc.disable()
    try:
        for n in range(20):
            assert not store.write([Point(f"d{i}", "t", now + n, 1.0) for i in range(50)],
                                   []).rejected
        store.series("d1", "t", now - 1000, now + 1000, 1000, ["count"])
        alive = sum(isinstance(o, (httpx.Response, httpx.Request)) for o in gc.get_objects())
    finally:
        gc.enable()
        store.stop()
    assert alive == 0
