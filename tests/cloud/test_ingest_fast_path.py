"""The one-pass parse of all-valid ASCII bodies decides exactly what the entry-by-entry path
would: same entries, same statuses, and dead letters keep the entries as they were sent."""

from __future__ import annotations

import json
import time

import pytest

from cloud.ingest import IngestService, _entries, _fast_parse
from tests.cloud.conftest import influx_store, reading

T0 = 1_700_000_000_000

FAST = [
    # Everything valid: integers for numbers, unknown fields, duplicate keys (last wins).
    b'{"gateway_id":"g","batch_id":"b","readings":[{"device":"d","sensor":"s","ts":1700000000000,'
    b'"value":3,"seq":1,"quality":2,"unit":null,"site":"p","extra":1},'
    b'{"device":"d","sensor":"s","ts":1700000000000,"value":true,"seq":2},'
    b'{"device":"a","device":"b","sensor":"s","ts":1700000000001,"value":1.5,"seq":3}],'
    b'"anomalies":[{"device":"d","sensor":"s","ts":1700000000000,"value":1,"score":0.5,'
    b'"detector":"hst"}]}',
    b'{"gateway_id":"g","batch_id":"b","sent_at":"now","readings":[]}',
]
SLOW = [
    # Bodies the fast path must hand over: a bad entry, NaN, escapes, non-ASCII, bad names.
    b'{"gateway_id":"g","batch_id":"b","readings":[{"device":"d","sensor":"s","ts":5,"value":1,'
    b'"seq":1},{"device":"d","sensor":"s","ts":1700000000000,"value":1,"seq":1}]}',
    b'{"gateway_id":"g","batch_id":"b","readings":[{"device":"d","sensor":"s",'
    b'"ts":1700000000000,"value":NaN,"seq":1}]}',
    # 33 characters, 66 bytes of UTF-8: over the limit of 64 bytes.
    b'{"gateway_id":"g","batch_id":"b","readings":[{"device":"' + b"\\u00e9" * 33
    + b'","sensor":"s","ts":1700000000000,"value":1,"seq":1}]}',
    ('{"gateway_id":"g","batch_id":"b","readings":[{"device":"' + "é" * 33
     + '","sensor":"s","ts":1700000000000,"value":1,"seq":1}]}').encode(),
    b'{"gateway_id":"g","batch_id":"b","readings":[{"device":"d\\\\ x","sensor":"s",'
    b'"ts":1700000000000,"value":1,"seq":1}], "anomalies": [{"device": "d"}]}',
    # Strings and integral floats are not numbers (strict types).
    b'{"gateway_id":"g","batch_id":"b","readings":[{"device":"d","sensor":"s",'
    b'"ts":"1700000000000","value":1,"seq":1.0},{"device":"d","sensor":"s","ts":1.7e12,'
    b'"value":"1.5","seq":2}]}',
]
FUTURE = (b'{"gateway_id":"g","batch_id":"b","readings":[{"device":"d","sensor":"s",'
          b'"ts":4000000000000,"value":1,"seq":1},{"device":"d","sensor":"s",'
          b'"ts":1700000000000,"value":1,"seq":2}]}')


def test_both_paths_reject_readings_from_the_future():
    for env in (_fast_parse(FUTURE), IngestService._slow_parse(FUTURE)):
        index, _readings, bad, *_ = _entries_now(env, FUTURE)
        assert index == [1]
        assert [r.index for r in bad] == [0] and "ahead of the receiver clock" in bad[0].reason


def _entries_now(env, raw):
    return _entries(env, raw, int(time.time() * 1000), 3_600_000)


@pytest.mark.parametrize("raw", FAST)
def test_fast_and_entry_by_entry_paths_agree(raw):
    slow = IngestService._slow_parse(raw)
    fast = _fast_parse(raw)
    assert fast is not None
    assert (fast.gateway_id, fast.batch_id, fast.sent_at) == (
        slow.gateway_id, slow.batch_id, slow.sent_at)
    assert _entries_now(fast, raw) == _entries_now(slow, raw)


@pytest.mark.parametrize("raw", SLOW)
def test_anything_else_takes_the_entry_by_entry_path(raw):
    assert _fast_parse(raw) is None
    _index, _readings, bad, _a_index, _anomalies, bad_a = _entries_now(
        IngestService._slow_parse(raw), raw)
    assert bad or bad_a


def test_bad_json_and_envelopes_keep_their_statuses(make_cloud):
    cloud = make_cloud("sqlite")
    assert cloud.ingest(b'{"gateway_id": "gw-1", "readings": [').status_code == 400
    assert cloud.ingest(b'{"gateway_id": "gw-1", "readings": []}').status_code == 422
    assert cloud.ingest({"gateway_id": "gw-1", "batch_id": "b", "readings": None}
                        ).status_code == 422
    assert cloud.ingest(cloud.batch([reading()], gateway_id="gw-9")).status_code == 403


@pytest.mark.integration
def test_points_the_store_refuses_from_an_all_valid_batch_are_dead_lettered_as_sent(
        make_cloud, influxdb):
    # A one-hour retention policy: InfluxDB refuses points older than that (partial write).
    influxdb.server.query(
        f'CREATE RETENTION POLICY "short" ON "{influxdb.database}" DURATION 1h REPLICATION 1',
        method="POST")
    store = influx_store(influxdb.url, influxdb.database, retention_policy="short")
    cloud = make_cloud("influxdb", store=store, influx=influxdb)
    now = int(time.time() * 1000)
    rs = [reading("d1", "temp", now - i * 1000, float(i), i) for i in range(5)]
    rs[2] = {**reading("d1", "temp", T0, 7, 2), "note": "kept as sent"}
    raw = json.dumps(cloud.batch(rs)).encode()
    assert _fast_parse(raw) is not None  # this batch takes the fast path
    r = cloud.ingest(raw, key="k-old")
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["accepted"] == 4
    assert [x["index"] for x in out["rejected"]] == [2]
    assert "retention" in out["rejected"][0]["reason"]
    (dead,) = cloud.services.dead_letters.recent()
    assert (dead["idx"], dead["code"]) == (2, "beyond_retention")
    assert json.loads(dead["payload"]) == rs[2]  # the value 7 stays an int, "note" stays
