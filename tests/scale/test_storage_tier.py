"""The storage tier's retention and downsampling plan, run against a real ``influxd`` 1.x.

``deploy/influxdb/retention-1x.influxql`` (raw readings for 30 days as the default retention
policy, 1-minute aggregates for 53 weeks filled by a continuous query) is executed statement by
statement; the cloud's own InfluxDB store writes readings into ``raw`` and reads them back, and
the continuous query's aggregates appear in ``year.readings_1m`` with the right values. The only
change to the file is the CQ's ``RESAMPLE EVERY 1m`` -> ``EVERY 1s`` so the test does not wait a
minute for the first run.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloud.settings import StoreSettings
from cloud.store.base import Point
from cloud.store.influxdb import InfluxDBStore
from tests.support.reconcile import influx_query, wait_until
from tests.support.servers import InfluxDB

pytestmark = [pytest.mark.integration]

ROOT = Path(__file__).resolve().parent.parent.parent
DDL = ROOT / "deploy/influxdb/retention-1x.influxql"


def statements(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip() and not line.startswith("--")]


@pytest.fixture
def influx_with_cqs(tmp_path: Path) -> Iterator[InfluxDB]:
    server = InfluxDB(tmp_path / "influxd", cq_run_interval="1s")
    server.start()
    try:
        yield server
    finally:
        server.kill()


def test_raw_retention_and_one_minute_aggregates_by_continuous_query(
        influx_with_cqs: InfluxDB) -> None:
    server = influx_with_cqs
    server.create_database("iotgw")
    for q in statements(DDL.read_text().replace("RESAMPLE EVERY 1m", "RESAMPLE EVERY 1s")):
        server.query(q, method="POST")
    rps = {r[0]: r for s in influx_query(server.url, "iotgw", "SHOW RETENTION POLICIES")
           for r in s["values"]}
    assert rps["raw"][1] == "720h0m0s" and rps["raw"][4] is True  # 30 days, the default
    assert rps["year"][1] == "8904h0m0s"  # 53 weeks

    store = InfluxDBStore(StoreSettings(kind="influxdb", url=server.url, database="iotgw",
                                        retention_policy="raw", create_database=False))
    store.start()
    try:
        minute = (int(time.time() * 1000) // 60_000 - 3) * 60_000  # a whole minute, 3 min ago
        values = [10.0, 20.0, 30.0, 40.0]
        store.write([Point("pump-1", "temp", minute + i * 10_000, v, seq=i)
                     for i, v in enumerate(values)], [])
        back = store.series("pump-1", "temp", minute, minute + 60_000, 60_000, ["mean", "count"])
        assert back.columns["count"] == [4.0] and back.columns["mean"] == [25.0]
    finally:
        store.stop()

    def aggregated() -> list[list[object]]:
        series = influx_query(server.url, "iotgw",
                              'SELECT "mean", "min", "max", "count" FROM "year"."readings_1m" '
                              f"WHERE time = {minute}ms AND \"device\" = 'pump-1'")
        return series[0]["values"] if series else []

    assert wait_until(lambda: bool(aggregated()), 30), server.log_tail()
    assert aggregated() == [[minute, 25.0, 10.0, 40.0, 4]]
    # The aggregates keep every tag of the raw series (GROUP BY *): device and sensor.
    tags = influx_query(server.url, "iotgw", 'SHOW TAG KEYS FROM "year"."readings_1m"')
    assert {"device", "sensor"} <= {v[0] for v in tags[0]["values"]}
