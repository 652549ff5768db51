"""Uplink units: retry policy, breaker, bisection and the HTTP sender against a recording sink."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from common.backoff import Backoff
from gateway.buffer import Lane, NewRow, SqliteBuffer
from gateway.db import Database
from gateway.deadletter import DeadLetterStore
from gateway.errors import BatchRejected, RetryableUplinkError
from gateway.metrics import GatewayMetrics
from gateway.uplink import (
    CircuitBreaker,
    HttpSender,
    IngestResult,
    OutgoingBatch,
    Uplink,
    build_batch,
)
from tests.support.cloud_sink import CloudSink


def reading(device: str, seq: int, sensor: str = "t", value: float = 1.0) -> NewRow:
    obj = {"device": device, "sensor": sensor, "ts": 1_700_000_000_000 + seq, "value": value,
           "seq": seq}
    return NewRow(Lane.BULK, device, 1, json.dumps(obj))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tuple[SqliteBuffer, DeadLetterStore]]:
    db = Database(tmp_path / "g.db")
    db.open()
    dead = DeadLetterStore(db)
    yield SqliteBuffer(db, dead, 1 << 30), dead
    db.close()


class ScriptedSender:
    """Rejects any batch holding a row whose body contains "bad"; records batch sizes."""

    def __init__(self) -> None:
        self.sizes: list[int] = []
        self.delivered: list[str] = []

    def send(self, batch: OutgoingBatch) -> IngestResult:
        self.sizes.append(len(batch.rows))
        if any("bad" in r.body for r in batch.rows):
            raise BatchRejected("422 invalid", 422)
        self.delivered.extend(r.body for r in batch.rows)
        return IngestResult(batch.readings)

    def close(self) -> None:
        pass


def make_uplink(buf: SqliteBuffer, sender: object) -> Uplink:
    return Uplink("gw", buf, sender, Backoff(0.01, 0.05, 1.0),  # type: ignore[arg-type]
                  CircuitBreaker(3, 1.0), GatewayMetrics(), max_rows=64)


def test_bisection_isolates_each_bad_row_and_delivers_the_rest(store) -> None:  # type: ignore[no-untyped-def]
    buf, dead = store
    rows = [reading("d1", s, sensor="bad" if s in (3, 17, 18) else "t") for s in range(32)]
    buf.append(rows)
    sender = ScriptedSender()
    make_uplink(buf, sender).deliver(buf.begin(64, 1 << 30))
    assert sorted(e.payload.decode() for e in dead.entries()) == sorted(
        rows[s].body for s in (3, 17, 18))
    assert sender.delivered == [r.body for i, r in enumerate(rows) if i not in (3, 17, 18)]
    assert buf.stats().rows == 0
    assert len(sender.sizes) < 32  # split, not row by row


def test_same_rows_same_key_and_body_different_rows_different_key(store) -> None:  # type: ignore[no-untyped-def]
    buf, _ = store
    buf.append([reading("d1", s) for s in range(4)])
    rows = buf.begin(4, 1 << 30)
    a, b = build_batch("gw", rows), build_batch("gw", rows)
    assert (a.key, a.body) == (b.key, b.body)
    assert build_batch("gw", rows[:3]).key != a.key
    assert build_batch("gw2", rows).key != a.key
    body = json.loads(a.body)
    assert body["batch_id"] == a.key and len(body["readings"]) == 4 and body["anomalies"] == []


def test_http_sender_delivers_gzip_with_token_and_key(store, sink: CloudSink) -> None:  # type: ignore[no-untyped-def]
    buf, _ = store
    buf.append([reading("d1", s) for s in range(10)])
    sender = HttpSender(sink.url, sink.token, timeout_s=5)
    result = sender.send(build_batch("gw", buf.begin(100, 1 << 30)))
    assert result.accepted == 10
    assert sink.keys() == {("d1", s, "t") for s in range(10)}
    again = sender.send(build_batch("gw", buf.begin(100, 1 << 30)))  # a retry: replayed
    assert again.accepted == 10 and not sink.duplicates()
    sender.close()


@pytest.mark.parametrize("mode", ["503", "429"])
def test_http_sender_honours_retry_after(store, sink: CloudSink, mode: str) -> None:  # type: ignore[no-untyped-def]
    buf, _ = store
    buf.append([reading("d1", 1)])
    sink.mode, sink.retry_after = mode, 7
    sender = HttpSender(sink.url, sink.token, timeout_s=5)
    with pytest.raises(RetryableUplinkError) as info:
        sender.send(build_batch("gw", buf.begin(1, 1 << 30)))
    assert info.value.retry_after == 7.0 and info.value.status == int(mode)
    assert Backoff(0.5, 60, 300).next(info.value.retry_after) == 7.0
    sender.close()


def test_http_sender_maps_failures(store, sink: CloudSink) -> None:  # type: ignore[no-untyped-def]
    buf, _ = store
    buf.append([reading("d1", 1)])
    batch = build_batch("gw", buf.begin(1, 1 << 30))
    good = HttpSender(sink.url, sink.token, timeout_s=1)
    bad_token = HttpSender(sink.url, "wrong-token")
    try:
        sink.mode = "500"
        with pytest.raises(RetryableUplinkError):
            good.send(batch)
        sink.mode = "ok"
        with pytest.raises(RetryableUplinkError) as info:
            bad_token.send(batch)
        assert info.value.status == 401  # a bad token keeps the data
        sink.reject = lambda r: True
        with pytest.raises(BatchRejected):
            good.send(batch)
        sink.down()
        with pytest.raises(RetryableUplinkError):
            good.send(batch)
    finally:
        good.close()
        bad_token.close()


def test_http_sender_times_out_on_a_hanging_cloud(store, sink: CloudSink) -> None:  # type: ignore[no-untyped-def]
    buf, _ = store
    buf.append([reading("d1", 1)])
    sink.mode = "hang"
    sender = HttpSender(sink.url, sink.token, timeout_s=0.3)
    with pytest.raises(RetryableUplinkError, match="time-out"):
        sender.send(build_batch("gw", buf.begin(1, 1)))
    sender.close()


def test_retry_policy_backs_off_with_jitter_up_to_the_cap() -> None:
    p = Backoff(1.0, 8.0, 30.0, rng=random.Random(3))
    delays = [p.next() for _ in range(8)]
    assert all(0.5 <= d <= 8.0 for d in delays) and max(delays[4:]) > 4.0
    assert len(set(delays)) == len(delays)  # jittered
    p.reset()
    assert p.next() <= 1.0


def test_breaker_opens_after_consecutive_failures_and_probes() -> None:
    now = [100.0]
    b = CircuitBreaker(failures=3, reset_s=5.0, clock=lambda: now[0])
    for _ in range(2):
        b.record_failure()
    assert b.allow()
    b.record_success()
    for _ in range(3):
        b.record_failure()
    assert not b.allow() and b.remaining() == pytest.approx(5.0)
    now[0] += 5.0
    assert b.allow() and b.state == "half_open"
    b.record_success()
    assert b.state == "closed"


def test_uplink_service_keeps_rows_through_an_outage(store, sink: CloudSink) -> None:  # type: ignore[no-untyped-def]
    buf, _ = store
    buf.append([reading("d1", s) for s in range(50)])
    sink.mode = "500"
    metrics = GatewayMetrics()
    up = Uplink("gw", buf, HttpSender(sink.url, sink.token, timeout_s=2),
                Backoff(0.02, 0.1, 1.0), CircuitBreaker(2, 0.2), metrics,
                max_rows=20, linger_ms=0)
    up.start()
    assert sink.wait_for(lambda: metrics.value("iotgw_gateway_uplink_retries_total") >= 3, 10)
    assert buf.stats().rows == 50 and not sink.keys()
    sink.mode = "ok"
    assert sink.wait_for(lambda: buf.stats().rows == 0, 10)
    up.stop()
    assert sink.keys() == {("d1", s, "t") for s in range(50)} and not sink.duplicates()


def test_http_sender_leaves_no_request_in_a_reference_cycle(store, sink: CloudSink) -> None:  # type: ignore[no-untyped-def]
    # Soak finding: httpx's response stream points back at the response, so each request and
    # its body waited for the cyclic collector. With the collector off, nothing may pile up.
    import gc

    import httpx

    buf, _ = store
    buf.append([reading("d1", s) for s in range(10)])
    sender = HttpSender(sink.url, sink.token, timeout_s=5)
    rows = buf.begin(100, 1 << 30)
    gc.collect()
    gc.disable()
    try:
        for _ in range(20):
            assert sender.send(build_batch("gw", rows)).accepted == 10
        alive = sum(isinstance(o, (httpx.Response, httpx.Request)) for o in gc.get_objects())
    finally:
        gc.enable()
        sender.close()
    assert alive == 0


def test_a_cloud_with_lower_limits_refuses_one_batch_then_gets_batches_that_fit(  # type: ignore[no-untyped-def]
        store, sink: CloudSink) -> None:
    buf, _ = store
    buf.append([reading("d1", s) for s in range(100)])
    sink.max_readings = 30  # below what the uplink sends (100 rows of one reading)
    up = Uplink("gw", buf, HttpSender(sink.url, sink.token, timeout_s=5), Backoff(0.01, 0.05, 1.0),
                CircuitBreaker(3, 1.0), GatewayMetrics(), max_rows=100, linger_ms=0)
    up.start()
    assert sink.wait_for(lambda: buf.stats().rows == 0, 10)
    first_413s = sink.statuses[413]
    buf.append([reading("d1", s) for s in range(100, 200)])
    assert sink.wait_for(lambda: buf.stats().rows == 0, 10)
    up.stop()
    # 100 refused, then each half of 50, whose halves of 25 fit; batches read after that carry
    # at most 25 readings and are never refused.
    assert first_413s == 3 and sink.statuses[413] == 3
    assert up.max_readings == 25
    assert sink.keys() == {("d1", s, "t") for s in range(200)} and not sink.duplicates()
