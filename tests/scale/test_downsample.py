"""Scheduled downsampling by the cloud (``[downsample]``), the retention plan's aggregation for
InfluxDB 3 (no continuous queries), run here against a real ``influxd`` through the same v1 API:
1-minute mean/min/max/count per series written back through ``/write``, late readings counted
by the next run, nothing written twice."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from cloud.downsample import Downsampler
from cloud.metrics import CloudMetrics
from cloud.settings import DownsampleSettings, StoreSettings
from cloud.store.base import Point
from cloud.store.influxdb import InfluxDBStore
from tests.support.processes import CloudProcess
from tests.support.reconcile import influx_query, wait_until
from tests.support.servers import InfluxDB

pytestmark = [pytest.mark.integration]
AGG = 'SELECT "mean", "min", "max", "count" FROM "readings_1m"'


@pytest.fixture
def influx(influxdb_server: InfluxDB) -> InfluxDB:
    """A throwaway ``influxd`` of this test's own (the conftest fixture)."""
    return influxdb_server


def rows(server: InfluxDB, where: str = "") -> list[list[object]]:
    series = influx_query(server.url, "iotgw_1m", f"{AGG} {where} GROUP BY *")
    return [[s["tags"]["device"], s["tags"]["sensor"], s["tags"].get("site", ""), *v]
            for s in series for v in s["values"]]


def test_aggregates_per_series_and_minute_late_readings_rewrite_the_interval(
        influx: InfluxDB) -> None:
    store = InfluxDBStore(StoreSettings(kind="influxdb", url=influx.url, database="iotgw"))
    store.start()
    metrics = CloudMetrics()
    sampler = Downsampler(DownsampleSettings(enabled=True, database="iotgw_1m", lag_s=0,
                                             lookback_s=600), store, metrics)
    try:
        minute = (int(time.time() * 1000) // 60_000 - 3) * 60_000
        store.write([Point("pump 1", "temp", minute + i * 10_000, v, seq=i, site="north")
                     for i, v in enumerate([10.0, 20.0, 30.0, 40.0])]
                    + [Point("pump-2", "rpm", minute + 60_000, 7.0, seq=1),
                       Point("pump-2", "rpm", minute - 30 * 60_000, 99.0, seq=0)], [])
        now = minute + 3 * 60_000 + 5_000
        assert sampler.window(now) == (minute + 3 * 60_000 - 600_000, minute + 3 * 60_000)
        assert sampler.run_once(now) == 2
        assert sorted(rows(influx)) == [
            ["pump 1", "temp", "north", minute, 25.0, 10.0, 40.0, 4],
            ["pump-2", "rpm", "", minute + 60_000, 7.0, 7.0, 7.0, 1]]  # 30 min ago: outside

        # A gateway delivers a reading of the first minute late: the next run recounts it.
        store.write([Point("pump 1", "temp", minute + 55_000, 100.0, seq=9, site="north")], [])
        assert sampler.run_once(now + 60_000) == 2
        assert sorted(rows(influx))[0] == ["pump 1", "temp", "north", minute, 40.0, 10.0,
                                           100.0, 5]
        assert len(rows(influx)) == 2  # rewritten in place, never twice
        assert metrics.value("iotgw_cloud_downsample_runs_total", outcome="ok") == 2
        assert metrics.value("iotgw_cloud_downsample_points_total") == 4
    finally:
        store.stop()


def test_a_failed_run_is_counted_and_raises_a_store_error(tmp_path: Path) -> None:
    store = InfluxDBStore(StoreSettings(kind="influxdb", url="http://127.0.0.1:9",
                                        database="iotgw", create_database=False))
    store.start()
    metrics = CloudMetrics()
    try:
        with pytest.raises(Exception, match="unreachable"):
            Downsampler(DownsampleSettings(enabled=True), store, metrics).run_once()
        assert metrics.value("iotgw_cloud_downsample_runs_total", outcome="failed") == 1
    finally:
        store.stop()


def test_the_cloud_downsamples_what_it_ingests_on_its_schedule(
        influx: InfluxDB, tmp_path: Path) -> None:
    cloud = CloudProcess(tmp_path / "cloud", {"kind": "influxdb", "url": influx.url,
                                             "database": "iotgw"})
    cloud.config["downsample"] = {"enabled": True, "database": "iotgw_1m", "run_every_s": 1,
                                  "lag_s": 0}
    cloud.write_config()
    token = cloud.create_token("gw-1")
    cloud.start()
    try:
        minute = (int(time.time() * 1000) // 60_000 - 2) * 60_000
        readings = [{"device": "d1", "sensor": "t", "ts": minute + i * 1000, "value": float(i),
                     "seq": i} for i in range(60)]
        r = httpx.post(f"{cloud.url}/v1/ingest", json={
            "gateway_id": "gw-1", "batch_id": "b1", "readings": readings},
            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "b1"})
        assert r.status_code == 200, r.text
        assert wait_until(lambda: bool(rows(influx)), 30), cloud.log_tail()
        assert rows(influx) == [["d1", "t", "", minute, 29.5, 0.0, 59.0, 60]]
    finally:
        cloud.stop()
