"""What only the InfluxDB store does: partial writes, retention policies, auth, outages."""

from __future__ import annotations

import time

import pytest

from cloud.errors import StoreUnavailable
from cloud.settings import StoreSettings
from cloud.store import AnomalyPoint, Point
from ingest_protocol.columns import Series
from tests.cloud.conftest import influx_store
from tests.support.servers import InfluxDB

pytestmark = pytest.mark.integration


def test_partial_write_rejects_only_the_refused_points(influxdb):
    # A one-hour retention policy: InfluxDB drops points older than that with a partial write.
    influxdb.server.query(
        f'CREATE RETENTION POLICY "short" ON "{influxdb.database}" DURATION 1h REPLICATION 1',
        method="POST")
    store = influx_store(influxdb.url, influxdb.database, retention_policy="short", batch_size=7)
    store.start()
    try:
        now = int(time.time() * 1000)
        old = now - 3 * 86_400_000
        points = [Point("d", "s", now - i * 1000, float(i)) for i in range(20)]
        points[3] = Point("d", "s", old, 3.0)
        points[17] = Point("d", "s", old + 1000, 17.0)
        res = store.write(points, [AnomalyPoint("d", "s", old, 1.0, 1.0, "hst")])
        assert [(r.index, r.code) for r in res.rejected] == [(3, "beyond_retention"),
                                                              (17, "beyond_retention")]
        assert "retention" in res.rejected[0].reason
        assert [r.index for r in res.anomalies_rejected] == [0]
        got = store.series("d", "s", now - 60_000, now + 1, 3_600_000, ["count"])
        assert sum(got.columns["count"]) == 18
    finally:
        store.stop()


@pytest.mark.parametrize("gzip", [True, False, "auto"])
def test_series_partial_write_names_batch_positions(influxdb, gzip):
    """The lean path's writes (per series, lines built for the whole batch), compressed or
    not: a refused point is named by its position in the batch, the rest are stored."""
    influxdb.server.query(
        f'CREATE RETENTION POLICY "short" ON "{influxdb.database}" DURATION 1h REPLICATION 1',
        method="POST")
    store = influx_store(influxdb.url, influxdb.database, retention_policy="short", batch_size=4,
                         gzip=gzip)
    store.start()
    try:
        now = int(time.time() * 1000)
        old = now - 3 * 86_400_000
        a_ts = [now - 1000, old, now - 3000, now - 4000, now - 5000]
        b_ts = [now - 1000, now - 2000, old + 1000]
        series = [Series("d", "a", None, "Cel", a_ts, [1.0] * 5, list(range(5)), [0, 0, 3, 0, 0],
                         [0, 2, 4, 6, 7]),
                  Series("d", "b", "p 1", None, b_ts, [2.5] * 3, [1, 2, 3], [0] * 3, [1, 3, 5])]
        res = store.write_series(series, [])
        assert [(r.index, r.code) for r in res.rejected] == [(2, "beyond_retention"),
                                                              (5, "beyond_retention")]
        for sensor, stored in (("a", 4), ("b", 2)):
            got = store.series("d", sensor, now - 60_000, now + 1, 3_600_000, ["count"])
            assert sum(got.columns["count"]) == stored
    finally:
        store.stop()


def test_gzip_auto_compresses_only_toward_another_host():
    for url, compressed in (("http://127.0.0.1:8086", False), ("http://localhost:1", False),
                            ("http://[::1]:8086", False), ("https://10.0.0.7:8086", True),
                            ("http://influx.internal:8086", True)):
        assert StoreSettings(url=url).compress_writes() is compressed, url
        assert StoreSettings(url=url, gzip=True).compress_writes() is True
        assert StoreSettings(url=url, gzip=False).compress_writes() is False


def test_basic_auth_and_wrong_password(tmp_path):
    server = InfluxDB(tmp_path / "influx", username="admin", password="s3cret-pw")
    server.start()
    good = influx_store(server.url, "authdb", username="admin", password="s3cret-pw")
    bad = influx_store(server.url, "authdb", username="admin", password="wrong")
    try:
        good.start()
        assert good.write([Point("d", "s", 1_700_000_000_000, 1.0)], []).rejected == []
        assert good.series("d", "s", 1_700_000_000_000, 1_700_000_000_001, 1000,
                           ["last"]).columns == {"last": [1.0]}
        bad.start()
        with pytest.raises(StoreUnavailable, match="401"):
            bad.write([Point("d", "s", 1_700_000_000_000, 1.0)], [])
    finally:
        good.stop()
        bad.stop()
        server.kill()


def test_store_down_raises_unavailable_then_recovers(influxdb_server):
    store = influx_store(influxdb_server.url, "outage")
    store.start()
    try:
        p = [Point("d", "s", 1_700_000_000_000, 1.0)]
        assert store.write(p, []).rejected == []
        influxdb_server.stop()
        with pytest.raises(StoreUnavailable):
            store.ping()
        with pytest.raises(StoreUnavailable):
            store.write(p, [])
        with pytest.raises(StoreUnavailable):
            store.series("d", "s", 0, 1, 1, ["mean"])
        influxdb_server.start()
        store.ping()
        assert store.write(p, []).rejected == []
    finally:
        store.stop()


def test_a_write_after_influxd_restarted_reconnects(influxdb_server):
    """The kept-alive write connection died with the old influxd: the next write goes through
    on a new one, with no error in between."""
    store = influx_store(influxdb_server.url, "restart")
    store.start()
    try:
        assert store.write([Point("d", "s", 1_700_000_000_000, 1.0)], []).rejected == []
        influxdb_server.stop()
        influxdb_server.start()
        assert store.write([Point("d", "s", 1_700_000_001_000, 2.0)], []).rejected == []
        got = store.series("d", "s", 1_700_000_000_000, 1_700_000_002_000, 60_000, ["count"])
        assert sum(got.columns["count"]) == 2
    finally:
        store.stop()


def test_database_is_created_once_influxd_comes_up(influxdb_server):
    influxdb_server.stop()
    store = influx_store(influxdb_server.url, "late")
    store.start()  # influxd is down: start-up must not fail
    try:
        with pytest.raises(StoreUnavailable):
            store.write([Point("d", "s", 1_700_000_000_000, 1.0)], [])
        influxdb_server.start()
        assert store.write([Point("d", "s", 1_700_000_000_000, 1.0)], []).rejected == []
        assert store.series("d", "s", 1_700_000_000_000, 1_700_000_000_001, 1000,
                            ["count"]).columns == {"count": [1.0]}
    finally:
        store.stop()


def test_every_write_names_its_precision(influxdb):
    store = influx_store(influxdb.url, influxdb.database, precision="s", gzip=False)
    store.start()
    try:
        store.write([Point("d", "s", 1_700_000_000_999, 5.0)], [])
        res = store.series("d", "s", 1_699_999_999_000, 1_700_000_001_000, 1000, ["last"])
        assert res.t == [1_700_000_000_000] and res.columns["last"] == [5.0]
    finally:
        store.stop()


def test_token_auth_sends_the_token_header():
    store = influx_store("http://127.0.0.1:9", "db", token="tok-123", username="ignored")
    store.start()  # nothing listens on port 9: start() must not fail, writes will say so
    try:
        assert store.client.headers["Authorization"] == "Token tok-123"
        assert store.client.auth is None
        with pytest.raises(StoreUnavailable, match="unreachable"):
            store.write([Point("d", "s", 1_700_000_000_000, 1.0)], [])
    finally:
        store.stop()


def test_an_unreachable_store_is_named_without_the_password_of_its_url():
    store = influx_store("http://admin:hunter2@127.0.0.1:9", "db")
    store.start()
    try:
        with pytest.raises(StoreUnavailable, match="unreachable") as caught:
            store.write([Point("d", "s", 1_700_000_000_000, 1.0)], [])
        assert "hunter2" not in str(caught.value) and "127.0.0.1:9" in str(caught.value)
    finally:
        store.stop()
