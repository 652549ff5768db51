"""The uplink with several batches in flight: disjoint rows, answers settled in read order,
failures settled and retried from the oldest row, and keys a restart would give too."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from common.backoff import Backoff
from gateway.buffer import Cursor, Lane, NewRow, SqliteBuffer
from gateway.db import Database
from gateway.deadletter import DeadLetterStore
from gateway.errors import RetryableUplinkError
from gateway.metrics import GatewayMetrics
from gateway.uplink import CircuitBreaker, IngestResult, OutgoingBatch, Uplink, build_batch
from tests.gateway.helpers import wait_until
from tests.support.cloud_sink import CloudSink


def reading(device: str, seq: int) -> NewRow:
    obj = {"device": device, "sensor": "t", "ts": 1_700_000_000_000 + seq, "value": 1.0,
           "seq": seq}
    return NewRow(Lane.BULK, device, 1, json.dumps(obj))


def event(device: str, seq: int) -> NewRow:
    obj = {"device": device, "sensor": "t", "ts": 1_700_000_000_000 + seq, "score": 0.99,
           "value": 1.0, "detector": "test"}
    return NewRow(Lane.PRIORITY, device, 1, json.dumps(obj))


@pytest.fixture
def buf(tmp_path: Path) -> Iterator[SqliteBuffer]:
    db = Database(tmp_path / "g.db")
    db.open()
    yield SqliteBuffer(db, DeadLetterStore(db), 1 << 30)
    db.close()


class GatedSender:
    """Holds every batch until the test answers it: ``answer(i)`` lets batch ``i`` through
    (``fail`` makes it a retryable failure the cloud certainly did not store);
    ``answer_all()`` lets every batch through from then on."""

    def __init__(self) -> None:
        self.batches: list[OutgoingBatch] = []
        self._gates: list[threading.Event] = []
        self._fail: set[int] = set()
        self._lock = threading.Lock()
        self.most_at_once = 0
        self._waiting = 0
        self._open = False

    def send(self, batch: OutgoingBatch) -> IngestResult:
        with self._lock:
            i = len(self.batches)
            self.batches.append(batch)
            gate = threading.Event()
            self._gates.append(gate)
            self._waiting += 1
            self.most_at_once = max(self.most_at_once, self._waiting)
        if not self._open:
            gate.wait(30)
        with self._lock:
            self._waiting -= 1
        if i in self._fail:
            raise RetryableUplinkError("503 try later", retry_after=0.0, status=503,
                                       undelivered=True)
        return IngestResult(batch.readings)

    def answer(self, i: int, fail: bool = False) -> None:
        assert wait_until(lambda: len(self._gates) > i, 10)
        if fail:
            self._fail.add(i)
        self._gates[i].set()

    def answer_all(self) -> None:
        with self._lock:
            self._open = True
            gates = list(self._gates)
        for gate in gates:
            gate.set()

    def close(self) -> None:
        self.answer_all()


def make_uplink(buf: SqliteBuffer, sender: object, in_flight: int, rows: int = 2,
                **options: Any) -> Uplink:
    return Uplink("gw", buf, sender, Backoff(0.01, 0.02, 0.02),  # type: ignore[arg-type]
                  CircuitBreaker(100, 0.01), GatewayMetrics(), max_rows=rows,
                  max_in_flight=in_flight, **{"linger_ms": 0, **options})


def left(buf: SqliteBuffer) -> list[int]:
    """Ids of the rows still buffered."""
    return [r.id for r in buf.begin(1000, 1 << 30, after=Cursor(0, 0))]


def test_batches_in_flight_hold_disjoint_rows_and_settle_in_read_order(
        buf: SqliteBuffer) -> None:
    buf.append([reading("d1", s) for s in range(10)])
    sender = GatedSender()
    uplink = make_uplink(buf, sender, in_flight=3)
    uplink.start()
    try:
        assert wait_until(lambda: len(sender.batches) == 3, 10)
        ids = [[r.id for r in b.rows] for b in sender.batches]
        assert ids == [[1, 2], [3, 4], [5, 6]]  # read one past the other, never more than 3
        sender.answer(2)
        sender.answer(1)  # later batches answered first: nothing settles before the oldest
        assert wait_until(lambda: sender.most_at_once == 3, 10)
        assert left(buf) == list(range(1, 11))
        sender.answer(0)
        assert wait_until(lambda: left(buf)[:1] == [7], 10)  # all three settled, in order
        for i in range(3, 5):
            sender.answer(i)
        assert wait_until(lambda: left(buf) == [], 10)
    finally:
        sender.answer_all()
        uplink.stop()
    assert sender.most_at_once == 3
    assert sorted(r.id for b in sender.batches for r in b.rows) == list(range(1, 11))


def test_a_failed_batch_is_retried_from_the_oldest_row_with_a_restarts_key(
        buf: SqliteBuffer) -> None:
    buf.append([reading("d1", s) for s in range(6)])
    sender = GatedSender()
    uplink = make_uplink(buf, sender, in_flight=3)
    uplink.start()
    try:
        assert wait_until(lambda: len(sender.batches) == 3, 10)
        first = sender.batches[0]
        sender.answer(1)
        sender.answer(0, fail=True)  # the oldest fails; the one behind it was stored
        sender.answer(2, fail=True)
        assert wait_until(lambda: len(sender.batches) >= 4, 10)
        retry = sender.batches[3]
        # The retry starts again from the oldest row: the same rows, key and body a restarted
        # gateway would send, so the cloud answers it from its idempotency store if it had it.
        assert [r.id for r in retry.rows] == [r.id for r in first.rows]
        assert (retry.key, retry.body) == (first.key, first.body)
        assert left(buf) == [1, 2, 5, 6]  # the stored batch's rows are gone all the same
        sender.answer(3)
        sender.answer(4)
        assert wait_until(lambda: left(buf) == [], 10)
    finally:
        sender.answer_all()
        uplink.stop()


def test_a_partial_batch_goes_alone_so_a_restart_reads_the_full_ones_again(
        buf: SqliteBuffer) -> None:
    buf.append([reading("d1", s) for s in range(5)])
    sender = GatedSender()
    uplink = make_uplink(buf, sender, in_flight=4)
    uplink.start()
    try:
        assert wait_until(lambda: len(sender.batches) == 2, 10)
        buf.append([reading("d1", 5)])  # [5, 6] is full now; [5] alone was not
        assert wait_until(lambda: len(sender.batches) == 3, 10)
        assert [r.id for r in sender.batches[2].rows] == [5, 6]
        buf.append([reading("d1", 6)])
        sender.answer(0)
        sender.answer(1)
        sender.answer(2)
        # [7] is partial: it waited for the full batches to settle, then went alone.
        assert wait_until(lambda: len(sender.batches) == 4, 10)
        assert [r.id for r in sender.batches[3].rows] == [7]
        assert sender.most_at_once == 3
        sender.answer(3)
        assert wait_until(lambda: left(buf) == [], 10)
    finally:
        sender.answer_all()
        uplink.stop()


def test_a_batch_goes_at_ready_rows_without_lingering_and_a_backlog_in_max_rows(
        buf: SqliteBuffer) -> None:
    sender = GatedSender()
    uplink = make_uplink(buf, sender, in_flight=2, rows=6, linger_ms=60_000, ready_rows=3)
    uplink.start()
    try:
        buf.append([reading("d1", s) for s in range(2)])
        buf.append([reading("d1", 2)])  # three rows: ready, the minute's linger not waited
        assert wait_until(lambda: len(sender.batches) == 1, 10)
        assert [r.id for r in sender.batches[0].rows] == [1, 2, 3]
        buf.append([reading("d1", s) for s in range(3, 17)])  # 14 rows behind that batch
        sender.answer(0)
        # The backlog goes in batches of max_rows (full ones fly together), then the rest,
        # two rows, waits (fewer than ready_rows) until more come.
        assert wait_until(lambda: len(sender.batches) == 3, 10)
        sender.answer(1)
        sender.answer(2)
        assert [len(b.rows) for b in sender.batches] == [3, 6, 6]
        assert wait_until(lambda: left(buf) == [16, 17], 10)
        buf.append([reading("d1", 17)])
        assert wait_until(lambda: len(sender.batches) == 4, 10)
        assert [r.id for r in sender.batches[3].rows] == [16, 17, 18]
        sender.answer(3)
        assert wait_until(lambda: left(buf) == [], 10)
    finally:
        sender.answer_all()
        uplink.stop()


def test_a_batch_holds_at_most_max_anomalies_events_and_the_rest_follows(
        buf: SqliteBuffer) -> None:
    buf.append([reading("d1", s) for s in range(4)])
    buf.append([event("d1", s) for s in range(8)])  # the priority lane: read first
    sender = GatedSender()
    uplink = make_uplink(buf, sender, in_flight=2, rows=100, max_anomalies=3)
    uplink.start()
    try:
        # Three events a batch, alone: the cap ended those batches, so they are full and
        # fly together; then the last two events with the readings (the end of the buffer:
        # a partial batch, which goes once the others are settled).
        assert wait_until(lambda: len(sender.batches) == 2, 10)
        assert [[r.id for r in b.rows] for b in sender.batches] == [[5, 6, 7], [8, 9, 10]]
        assert [(b.anomalies, b.readings) for b in sender.batches] == [(3, 0), (3, 0)]
        sender.answer(0)
        sender.answer(1)
        assert wait_until(lambda: len(sender.batches) == 3, 10)
        last = sender.batches[2]
        assert [r.id for r in last.rows] == [11, 12, 1, 2, 3, 4]
        assert (last.anomalies, last.readings) == (2, 4)
        sender.answer(2)
        assert wait_until(lambda: left(buf) == [], 10)
    finally:
        sender.answer_all()
        uplink.stop()
    assert sender.most_at_once == 2


def test_rows_ended_by_the_byte_limit_make_a_full_batch(buf: SqliteBuffer) -> None:
    buf.append([reading("d1", s) for s in range(7)])  # 3 batches ended by bytes, then one row
    size = buf.begin(1, 1 << 30, hold=False)[0].size
    sender = GatedSender()
    uplink = make_uplink(buf, sender, in_flight=3, rows=100)
    uplink.max_bytes = 2 * size + 1  # two rows a batch, ended by bytes, not by rows
    uplink.start()
    try:
        assert wait_until(lambda: len(sender.batches) == 3, 10)
        assert [len(b.rows) for b in sender.batches] == [2, 2, 2]
        sender.answer_all()
        assert wait_until(lambda: len(sender.batches) == 4, 10)
        assert [r.id for r in sender.batches[3].rows] == [7]  # the end of the buffer: alone
    finally:
        sender.answer_all()
        uplink.stop()
    assert wait_until(lambda: left(buf) == [], 10)


def test_priority_rows_arriving_while_batches_fly_go_next(buf: SqliteBuffer) -> None:
    buf.append([reading("d1", s) for s in range(6)])
    sender = GatedSender()
    uplink = make_uplink(buf, sender, in_flight=2)
    uplink.start()
    try:
        assert wait_until(lambda: len(sender.batches) == 2, 10)
        buf.append([event("d1", 99)])
        sender.answer(0)
        assert wait_until(lambda: len(sender.batches) == 3, 10)
        assert [r.lane for r in sender.batches[2].rows] == [Lane.PRIORITY, Lane.BULK]
        assert sender.batches[2].anomalies == 1
        sender.answer_all()
        assert wait_until(lambda: left(buf) == [], 10)
    finally:
        sender.answer_all()
        uplink.stop()
    sent = [r.id for b in sender.batches for r in b.rows]
    assert sorted(sent) == sorted(set(sent)) == list(range(1, 8))  # each row once


def test_a_batch_stops_at_the_readings_cap(buf: SqliteBuffer) -> None:
    heavy = [NewRow(Lane.BULK, "d1", 400, reading("d1", s).body) for s in range(10)]
    buf.append(heavy)
    assert len(buf.begin(100, 1 << 30, max_items=1000)) == 2
    assert len(buf.begin(100, 1 << 30, max_items=10)) == 1  # at least one row, always
    batch = build_batch("gw", buf.begin(100, 1 << 30, max_items=4000))
    assert (len(batch.rows), batch.readings) == (10, 4000)


def test_pipelined_delivery_to_a_recording_cloud_stores_each_reading_once(
        buf: SqliteBuffer, sink: CloudSink) -> None:
    from gateway.uplink import HttpSender

    buf.append([reading(f"d{d}", s) for s in range(200) for d in range(5)])
    sink.delay = 0.05  # several requests are on their way at once
    uplink = make_uplink(buf, HttpSender(sink.url, sink.token), in_flight=4, rows=40)
    uplink.start()
    try:
        assert wait_until(lambda: left(buf) == [], 60)
    finally:
        uplink.stop()
    assert len(sink.keys()) == 1000
    assert not sink.duplicates()


class RecordingSender:
    """Answers every batch at once with a 2xx, keeping what it was sent."""

    def __init__(self) -> None:
        self.batches: list[OutgoingBatch] = []

    def send(self, batch: OutgoingBatch) -> IngestResult:
        self.batches.append(batch)
        return IngestResult(batch.readings)

    def close(self) -> None:
        pass


def test_a_batch_sent_before_a_crash_goes_again_as_itself_not_with_rows_since(
        tmp_path: Path) -> None:
    db = Database(tmp_path / "g.db")
    db.open()
    buf = SqliteBuffer(db, DeadLetterStore(db), 1 << 30)
    buf.append([reading("d1", s) for s in range(3)])
    rows = buf.begin(100, 1 << 30)  # a partial batch: the end of the buffer
    buf.remember(rows)
    sent = build_batch("gw", rows, "msgpack")  # the cloud stored it; the process died
    db.close()

    db = Database(tmp_path / "g.db")  # the restart
    db.open()
    buf = SqliteBuffer(db, DeadLetterStore(db), 1 << 30)
    buf.append([reading("d1", s) for s in range(3, 5)] + [event("d1", 99)])
    sender = RecordingSender()
    uplink = make_uplink(buf, sender, in_flight=2, rows=100)
    uplink.start()
    try:
        assert wait_until(lambda: left(buf) == [], 10)
    finally:
        uplink.stop()
        db.close()
    # Read afresh, the oldest rows would have been joined by the two readings and led by the
    # anomaly event: another key, and the cloud would have written the three readings again.
    first = sender.batches[0]
    assert [r.id for r in first.rows] == [1, 2, 3]
    assert (first.key, first.body) == (sent.key, sent.body)
    assert sorted(r.id for b in sender.batches[1:] for r in b.rows) == [4, 5, 6]
    assert uplink._metrics.uplink_resent._value.get() == 1


def test_a_failed_partial_batch_is_retried_with_its_rows_only(buf: SqliteBuffer) -> None:
    buf.append([reading("d1", 0)])
    sender = GatedSender()
    uplink = make_uplink(buf, sender, in_flight=2, rows=10)
    uplink.start()
    try:
        assert wait_until(lambda: len(sender.batches) == 1, 10)
        buf.append([reading("d1", s) for s in range(1, 4)])  # arrive while it travels
        sender.answer(0, fail=True)
        assert wait_until(lambda: len(sender.batches) == 2, 10)
        assert sender.batches[1].key == sender.batches[0].key
        sender.answer_all()
        assert wait_until(lambda: left(buf) == [], 10)
    finally:
        sender.answer_all()
        uplink.stop()
    assert [[r.id for r in b.rows] for b in sender.batches] == [[1], [1], [2, 3, 4]]
