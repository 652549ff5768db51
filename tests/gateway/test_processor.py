"""The raw intake log and the processing stage: in order, durable cursor, same rows after a
crash at any point."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from firmware_protocol.codecs import get_codec
from firmware_protocol.topics import Subscription
from gateway.buffer import SqliteBuffer
from gateway.db import Database
from gateway.deadletter import DeadLetterStore
from gateway.dedup import DedupWindow
from gateway.metrics import GatewayMetrics
from gateway.pipeline import Pipeline
from gateway.processor import Processor, load_cursor
from gateway.rawlog import Entry, Logged, RawLog
from tests.support.publisher import message, topic


class Crash(BaseException):
    """Stands for the process dying in the middle of a transaction."""


class CrashingScorer:
    """Scores nothing; dies on the ``crash_at``-th reading it sees."""

    def __init__(self, crash_at: int | None) -> None:
        self.seen = 0
        self.crash_at = crash_at

    def observe(self, *_args: object, **_kw: object) -> None:
        self.seen += 1
        if self.seen == self.crash_at:
            raise Crash()


class Stage:
    def __init__(self, data: Path, crash_at: int | None = None) -> None:
        self.db = Database(data / "gateway.db")
        self.db.open()
        dead = DeadLetterStore(self.db)
        self.buffer = SqliteBuffer(self.db, dead, 1 << 30)
        pipeline = Pipeline(self.db, [Subscription()], self.buffer, dead,
                            DedupWindow(self.db, 64), GatewayMetrics(), CrashingScorer(crash_at))
        self.log = RawLog(data / "intake.db")
        self.log.open(floor=load_cursor(self.db))
        self.processor = Processor(self.db, self.log, pipeline, GatewayMetrics(), batch=7)

    def run_to_end(self) -> None:
        while entries := self.log.read(self.processor.cursor, 7):
            self.processor.process(entries)

    def outcome(self) -> tuple[list[tuple[str, int, str]], list[tuple[object, ...]], int]:
        rows = [(r.stream, r.count, r.body) for r in self.buffer.begin(10_000, 1 << 30)]
        with self.db.reading() as conn:
            dedup = conn.execute("SELECT * FROM dedup ORDER BY device, slot").fetchall()
            dead = conn.execute("SELECT COUNT(*) FROM dead_letters").fetchone()[0]
        return rows, dedup, dead

    def close(self) -> None:
        self.log.close()
        self.db.close()


def entries() -> list[Entry]:
    codec = get_codec("json")
    out: list[Entry] = []
    for seq in range(20):
        for dev in ("a", "b"):
            out.append((topic(dev), codec.encode(message(dev, seq)), 1))
        if seq % 5 == 0:  # a redelivery and a broken payload now and then
            out.append((topic("a"), codec.encode(message("a", seq)), 1))
            out.append((topic("b"), b"{broken", 1))
    return out


def test_ids_are_never_reused_and_stay_above_the_cursor(tmp_path: Path) -> None:
    log = RawLog(tmp_path / "intake.db")
    log.open(floor=0)
    assert log.append([("t", b"x", 1), ("t", b"y", 2)]) == 2
    log.processed(2)
    log.trim()
    log.close()
    log = RawLog(tmp_path / "intake.db")
    log.open(floor=2)
    assert log.append([("t", b"z", 3)]) == 3  # the log was empty: ids go on, not back to 1
    log.close()
    (tmp_path / "intake.db").unlink()  # lost by hand: the cursor still rules
    log = RawLog(tmp_path / "intake.db")
    log.open(floor=10)
    assert log.append([("t", b"w", 4)]) == 11
    assert log.backlog == 1


def straight_outcome(data: Path) -> tuple[list[tuple[str, int, str]], list[tuple[object, ...]],
                                           int]:
    """What a stage with an inline scorer, never interrupted, makes of :func:`entries`."""
    data.mkdir()
    stage = Stage(data)
    stage.log.append(entries())
    stage.run_to_end()
    try:
        return stage.outcome()
    finally:
        stage.close()


@pytest.mark.parametrize("crash_at", [1, 9, 30, 61])
def test_a_crash_anywhere_reprocesses_to_the_same_rows(tmp_path: Path, crash_at: int) -> None:
    want = straight_outcome(tmp_path / "straight")
    (tmp_path / "crashed").mkdir()
    stage = Stage(tmp_path / "crashed", crash_at=crash_at)
    stage.log.append(entries())
    with pytest.raises(Crash):
        stage.run_to_end()
    cursor = stage.processor.cursor
    stage.log.close()  # the process dies: nothing else is written
    stage.db.close()
    stage = Stage(tmp_path / "crashed")  # restart
    assert stage.processor.cursor == cursor
    stage.run_to_end()
    assert stage.outcome() == want
    assert want[2] == 4 and len(want[0]) == 40  # 4 dead letters, redeliveries recognised
    assert stage.log.backlog == 0
    stage.close()


class TxnWatchingScorer:
    """Records, for every reading it scores, whether a database transaction was open."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.in_txn: list[bool] = []

    def observe(self, *_args: object, **_kw: object) -> None:
        self.in_txn.append(self.db.active_txn is not None)


def test_scoring_runs_outside_the_write_transaction(tmp_path: Path) -> None:
    """The uplink's deletes share the database: the stage holds it only to write, not while
    its detectors score (decision 91). The outcome is what it was: duplicates within a batch
    and across batches recognised, broken payloads dead-lettered."""
    stage = Stage(tmp_path)
    scorer = TxnWatchingScorer(stage.db)
    pipeline = Pipeline(stage.db, [Subscription()], stage.buffer, DeadLetterStore(stage.db),
                        DedupWindow(stage.db, 64), GatewayMetrics(), scorer)
    stage.processor = Processor(stage.db, stage.log, pipeline, GatewayMetrics(), batch=7)
    stage.log.append(entries())
    stage.run_to_end()
    rows, _dedup, dead = stage.outcome()
    assert scorer.in_txn and not any(scorer.in_txn)
    assert len(rows) == 40 and dead == 4
    stage.close()


def test_a_short_batch_waits_for_more_to_join_it(tmp_path: Path) -> None:
    """Entries arriving a few at a time are processed together once the oldest is
    ``linger_ms`` old, not one transaction each."""
    stage = Stage(tmp_path)
    stage.processor = Processor(stage.db, stage.log, stage.processor._pipeline, GatewayMetrics(),
                                batch=500, linger_ms=2000.0)
    sizes: list[int] = []
    process = stage.processor.process

    def recording(batch: Sequence[Logged]) -> None:
        sizes.append(len(batch))
        process(batch)

    stage.processor.process = recording  # type: ignore[method-assign]
    stage.processor.start()
    try:
        for entry in entries()[:5]:
            stage.log.append([(entry[0], entry[1], time.time_ns() // 1_000_000)])
            stage.processor.notify()
            time.sleep(0.02)
        deadline = time.monotonic() + 10
        while stage.log.backlog and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        stage.processor.stop()
    assert sum(sizes) == 5
    assert sizes == [5]
    stage.close()


class ElsewhereScorer:
    """A batch scorer as the score worker is seen (submit, then collect): it scores nothing,
    and records the readings it was handed."""

    def __init__(self) -> None:
        self.seen = 0
        self._held: list[object] = []

    def observe(self, *_args: object, **_kw: object) -> None:
        raise AssertionError("a batch scorer is handed whole batches")

    def submit(self, items: Sequence[object]) -> None:
        self._held = list(items)

    def collect(self, on_error: object = None) -> list[list[object]]:
        held, self._held = self._held, []
        self.seen += len(held)
        return [[] for _ in held]


def test_while_a_batch_is_scored_elsewhere_the_next_is_decoded_once(tmp_path: Path) -> None:
    """The stage reads and decodes the next entries while a score worker scores a batch, and
    uses those results for it: every entry decoded once, the same rows as inline scoring."""
    want = straight_outcome(tmp_path / "inline")
    (tmp_path / "ahead").mkdir()
    stage = Stage(tmp_path / "ahead")
    scorer = ElsewhereScorer()
    pipeline = Pipeline(stage.db, [Subscription()], stage.buffer, DeadLetterStore(stage.db),
                        DedupWindow(stage.db, 64), GatewayMetrics(), scorer)
    decoded: list[int] = []
    decode = pipeline.decode

    def counting(batch: Sequence[object]) -> list[object]:
        decoded.append(len(batch))
        return decode(batch)  # type: ignore[arg-type]

    pipeline.decode = counting  # type: ignore[method-assign,assignment]
    stage.processor = Processor(stage.db, stage.log, pipeline, GatewayMetrics(), batch=7)
    stage.log.append(entries())
    stage.run_to_end()
    assert stage.outcome() == want
    assert sum(decoded) == len(entries())  # each once, though read twice
    assert len(decoded) > len(entries()) // 7  # ... most of them ahead of their batch
    assert scorer.seen == 40
    stage.close()
