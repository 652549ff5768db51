"""The SQLite buffer as a transaction: append → begin → end, bounds, drops, lanes, restarts."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.buffer import Lane, NewRow, SqliteBuffer
from gateway.buffer.sqlite import ROW_OVERHEAD
from gateway.db import Database
from gateway.deadletter import DeadLetterStore
from gateway.dedup import DedupWindow


def open_buffer(path: Path, max_bytes: int = 1 << 20, overflow: str = "drop_oldest",
                retention_s: float = 3600) -> tuple[Database, SqliteBuffer, DeadLetterStore]:
    db = Database(path / "gateway.db")
    db.open()
    dead = DeadLetterStore(db)
    return db, SqliteBuffer(db, dead, max_bytes, overflow, retention_s), dead


def reading_row(device: str, seq: int, count: int = 1) -> NewRow:
    body = ",".join(f'{{"device":"{device}","seq":{seq},"i":{i}}}' for i in range(count))
    return NewRow(Lane.BULK, device, count, body)


def test_rows_survive_reopen_and_leave_only_after_end(tmp_path: Path) -> None:
    db, buf, _ = open_buffer(tmp_path)
    buf.append([reading_row("d1", s) for s in range(5)])
    batch = buf.begin(max_rows=3, max_bytes=1 << 20)
    assert [r.body for r in batch] == [reading_row("d1", s).body for s in range(3)]
    db.close()
    db, buf, _ = open_buffer(tmp_path)  # a restart: nothing was acknowledged, all five are back
    assert buf.stats().rows == 5
    batch = buf.begin(10, 1 << 20)
    buf.end(batch[:2])
    assert [r.body for r in buf.begin(10, 1 << 20)] == [reading_row("d1", s).body
                                                         for s in range(2, 5)]
    assert buf.stats().rows == 3


def test_priority_lane_leaves_first(tmp_path: Path) -> None:
    _, buf, _ = open_buffer(tmp_path)
    buf.append([reading_row("d1", 1), reading_row("d1", 2)])
    buf.append([NewRow(Lane.PRIORITY, "d1", 1, '{"detector":"x"}')])
    assert [r.lane for r in buf.begin(10, 1 << 20)] == [Lane.PRIORITY, Lane.BULK, Lane.BULK]


def test_begin_respects_byte_limit_but_returns_at_least_one_row(tmp_path: Path) -> None:
    _, buf, _ = open_buffer(tmp_path)
    buf.append([reading_row("d1", s, count=5) for s in range(4)])
    one = buf.begin(10, max_bytes=1)
    assert len(one) == 1
    size = one[0].size
    assert len(buf.begin(10, max_bytes=2 * size)) == 2


def test_drop_oldest_counts_every_dropped_reading_exactly(tmp_path: Path) -> None:
    row = reading_row("d1", 0, count=3)
    size = len(row.body.encode()) + ROW_OVERHEAD
    db, buf, _ = open_buffer(tmp_path, max_bytes=10 * size + size // 2)
    for seq in range(25):
        buf.append([reading_row("d1", seq, count=3)])
    stats = buf.stats()
    assert stats.rows == 10
    assert stats.dropped_readings == 15 * 3
    kept = buf.begin(100, 1 << 30)
    assert [r.body for r in kept] == [reading_row("d1", s, count=3).body for s in range(15, 25)]
    db.close()
    _, buf, _ = open_buffer(tmp_path, max_bytes=10 * size + size // 2)
    assert buf.stats().dropped_readings == 45  # counters are durable too


def test_backpressure_never_drops_and_reports_no_room(tmp_path: Path) -> None:
    row = reading_row("d1", 0)
    size = len(row.body.encode()) + ROW_OVERHEAD
    _, buf, _ = open_buffer(tmp_path, max_bytes=3 * size, overflow="backpressure")
    for seq in range(2):
        buf.append([reading_row("d1", seq)])
    assert buf.has_room()
    buf.append([reading_row("d1", 2), reading_row("d1", 3)])
    assert not buf.has_room()
    assert buf.stats().rows == 4 and buf.stats().dropped_readings == 0
    buf.end(buf.begin(2, 1 << 20))
    assert buf.has_room()


def test_rejected_rows_move_to_dead_letters_in_one_step(tmp_path: Path) -> None:
    _, buf, dead = open_buffer(tmp_path)
    buf.append([reading_row("d1", s) for s in range(3)])
    rows = buf.begin(10, 1 << 20)
    buf.end([rows[0]], [(rows[1], "422 bad value")])
    assert [r.body for r in buf.begin(10, 1 << 20)] == [rows[2].body]
    (entry,) = dead.entries()
    assert entry.source == "uplink" and entry.reason == "uplink_rejected"
    assert entry.payload.decode() == rows[1].body and "422" in entry.detail


def test_retention_expires_old_rows_and_counts_them(tmp_path: Path) -> None:
    _, buf, _ = open_buffer(tmp_path, retention_s=60)
    buf.append([reading_row("d1", 1, count=4)])
    created = buf.begin(1, 1 << 20)[0].created_ms
    assert buf.expire(created + 30_000) == 0
    assert buf.expire(created + 61_000) == 1
    assert buf.stats().expired_readings == 4 and buf.stats().rows == 0


def test_a_rolled_back_transaction_leaves_counters_and_dedup_untouched(tmp_path: Path) -> None:
    db, buf, _ = open_buffer(tmp_path)
    window = DedupWindow(db, window=16)
    with pytest.raises(RuntimeError), db.transaction():
        buf.append([reading_row("d1", 1)])
        assert not window.check_and_add("d1", 1, 1000)
        raise RuntimeError("crash inside the group commit")
    assert buf.stats().rows == 0 and buf.begin(10, 1 << 20) == []
    assert not window.seen("d1", 1, 1000)


def test_dedup_window_survives_restart(tmp_path: Path) -> None:
    db = Database(tmp_path / "g.db")
    db.open()
    window = DedupWindow(db, window=4)
    with db.transaction():
        for seq in range(6):
            assert not window.check_and_add("d1", seq, 1000 + seq)
    db.close()
    db.open()
    window = DedupWindow(db, window=4)
    assert window.seen("d1", 5, 1005) and window.seen("d1", 2, 1002)
    assert not window.seen("d1", 1, 1001)  # fell out of the window (slot reused by seq 5)
    assert not window.seen("d2", 5, 1005)


def test_overflow_never_drops_rows_in_flight_so_the_drop_count_is_exact(tmp_path: Path) -> None:
    row = reading_row("d1", 0, count=2)
    size = len(row.body.encode()) + ROW_OVERHEAD
    _, buf, _ = open_buffer(tmp_path, max_bytes=6 * size + size // 2)
    buf.append([reading_row("d1", s, count=2) for s in range(6)])
    batch = buf.begin(max_rows=3, max_bytes=1 << 20)  # the uplink is sending seq 0..2
    for seq in range(6, 12):
        buf.append([reading_row("d1", seq, count=2)])
    buf.end(batch)  # ...and the cloud took them: they were not lost
    delivered = {r.body for r in batch}
    left = {r.body for r in buf.begin(100, 1 << 30)}
    missing = [s for s in range(12)
               if reading_row("d1", s, count=2).body not in delivered | left]
    assert missing == [3, 4, 5, 6, 7, 8]
    assert buf.stats().dropped_readings == 2 * len(missing)


def test_a_released_batch_can_be_dropped_again(tmp_path: Path) -> None:
    row = reading_row("d1", 0)
    size = len(row.body.encode()) + ROW_OVERHEAD
    _, buf, _ = open_buffer(tmp_path, max_bytes=3 * size + size // 2)
    buf.append([reading_row("d1", s) for s in range(3)])
    buf.release(buf.begin(2, 1 << 20))  # the send failed: back to the oldest-first order
    buf.append([reading_row("d1", 3)])
    assert [r.body for r in buf.begin(10, 1 << 20)] == [reading_row("d1", s).body
                                                         for s in (1, 2, 3)]
    assert buf.stats().dropped_readings == 1


def test_deleting_acknowledged_rows_skips_the_fsync_and_nothing_else(tmp_path: Path) -> None:
    db = Database(tmp_path / "gateway.db", "power-loss")
    db.open()
    buf = SqliteBuffer(db, DeadLetterStore(db), 1 << 20)
    buf.append([reading_row("d1", s) for s in range(3)])
    sync = db.conn.execute("PRAGMA synchronous").fetchone()[0]
    buf.end(buf.begin(2, 1 << 20))
    assert db.conn.execute("PRAGMA synchronous").fetchone()[0] == sync == 2  # FULL again
    with pytest.raises(RuntimeError), db.transaction(synced=False) as conn:
        conn.execute("DELETE FROM buffer_rows")
        raise RuntimeError("rolled back")
    assert db.conn.execute("PRAGMA synchronous").fetchone()[0] == 2
    db.close()
    db, buf, _ = open_buffer(tmp_path)
    assert [r.body for r in buf.begin(10, 1 << 20)] == [reading_row("d1", 2).body]
    assert buf.stats().rows == 1
