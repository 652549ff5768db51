"""The SQLite buffer: rows in the gateway database, bounded by bytes, every loss counted.

Sizes are the row's body bytes plus a fixed per-row overhead, tracked in a ``buffer_meta`` table
updated in the same transaction as the rows, so the bound and the counters survive restarts and
stay exact. Under ``drop_oldest`` an append that crosses the bound deletes the oldest bulk rows
(then, if it must, the oldest priority rows) and adds their readings to the drop counters in
that same transaction. Under ``backpressure`` nothing is dropped; :meth:`has_room` turns false.

Rows in flight (handed out by :meth:`begin`, not yet settled by :meth:`end` or given back by
:meth:`release` because the request certainly never reached the cloud) are never dropped: the
uplink may be delivering them, or a lost answer may hide that the cloud stored them, and a row
that reaches the cloud must not also be counted as lost. So "readings missing at the cloud ==
the drop counter" holds exactly; the price is that the bound can be exceeded by the rows in
flight (about one batch, ``uplink.max_batch_bytes``: the uplink always retries the oldest rows
first, so the rows in doubt are the ones it sends next). While the buffer keeps overflowing, one
summary line is logged every :data:`DROP_LOG_EVERY_S` seconds, not one per write.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass

from gateway.buffer.base import BufferStats, Cursor, Lane, NewRow, Row
from gateway.db import Database
from gateway.deadletter import DeadLetterStore

log = logging.getLogger("gateway.buffer")

#: Bytes counted per row on top of its body (rowid, columns, index entry).
ROW_OVERHEAD = 48

#: At most one "buffer full" line per this many seconds while drops go on.
DROP_LOG_EVERY_S = 10.0

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS buffer_rows (id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " lane INTEGER NOT NULL, stream TEXT NOT NULL, count INTEGER NOT NULL,"
    " size INTEGER NOT NULL, created_ms INTEGER NOT NULL, body TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS buffer_rows_lane ON buffer_rows(lane, id)",
    "CREATE TABLE IF NOT EXISTS buffer_meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
    # Batches sent and not yet settled, as the id range of each lane's rows (decision 92).
    "CREATE TABLE IF NOT EXISTS uplink_flights (id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " prio_first INTEGER NOT NULL, prio_last INTEGER NOT NULL,"
    " bulk_first INTEGER NOT NULL, bulk_last INTEGER NOT NULL)",
)
#: A :class:`Row` straight from the database's tuple (its columns are the fields, in order).
_row = tuple.__new__
_COUNTERS = (
    "rows", "bytes", "dropped_readings", "dropped_anomalies", "expired_readings",
    "expired_anomalies",
)


@dataclass
class _Meta:
    rows: int = 0
    bytes: int = 0
    dropped_readings: int = 0
    dropped_anomalies: int = 0
    expired_readings: int = 0
    expired_anomalies: int = 0


class SqliteBuffer:
    """A :class:`~gateway.buffer.base.Buffer` in the gateway's SQLite database."""

    def __init__(
        self,
        db: Database,
        dead_letters: DeadLetterStore,
        max_bytes: int,
        overflow: str = "drop_oldest",
        retention_s: float = 7 * 24 * 3600,
    ) -> None:
        if overflow not in {"drop_oldest", "backpressure"}:
            raise ValueError(f"unknown overflow policy {overflow!r}")
        self._db = db
        self._dead = dead_letters
        self.max_bytes = max_bytes
        self.overflow = overflow
        self.retention_ms = int(retention_s * 1000)
        with db.transaction() as conn:
            for statement in _SCHEMA:
                conn.execute(statement)
            conn.executemany(
                "INSERT OR IGNORE INTO buffer_meta (name, value) VALUES (?, 0)",
                [(n,) for n in _COUNTERS],
            )
            meta = dict(conn.execute("SELECT name, value FROM buffer_meta").fetchall())
        self._meta = _Meta(**{n: int(meta[n]) for n in _COUNTERS})
        self._txn: tuple[int, _Meta] | None = None
        self._inflight: set[int] = set()
        self._drop_log = _DropLog()

    # -- writing -----------------------------------------------------------------------------

    def append(self, rows: Sequence[NewRow]) -> None:
        if not rows:
            return
        now = _now_ms()
        data = [
            (int(r.lane), r.stream, r.count, len(r.body.encode()) + ROW_OVERHEAD, now, r.body)
            for r in rows
        ]
        added = sum(d[3] for d in data)
        with self._db.transaction() as conn:
            conn.executemany(
                "INSERT INTO buffer_rows (lane, stream, count, size, created_ms, body)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                data,
            )
            meta = self._pending()
            meta.rows += len(data)
            meta.bytes += added
            if self.overflow == "drop_oldest" and meta.bytes > self.max_bytes:
                self._drop_oldest(conn, meta)
            self._store(conn, meta)

    def _pending(self) -> _Meta:
        """This transaction's working copy of the counters (published after commit)."""
        if self._txn is not None and self._txn[0] == self._db.active_txn:
            return self._txn[1]
        # Read inside the write transaction: another process (``iotgw gateway dlq replay``)
        # may have changed the counters since this one last committed.
        with self._db.transaction() as conn:
            stored = dict(conn.execute("SELECT name, value FROM buffer_meta").fetchall())
            meta = _Meta(**{n: int(stored[n]) for n in _COUNTERS})
            self._txn = (self._db.txn_id, meta)
        return meta

    def _drop_oldest(self, conn: sqlite3.Connection, meta: _Meta) -> None:
        excess = meta.bytes - self.max_bytes
        freed = readings = anomalies = 0
        victims: list[tuple[int]] = []
        inflight = self._inflight
        for lane in (Lane.BULK, Lane.PRIORITY):
            cur = conn.execute(
                "SELECT id, count, size FROM buffer_rows WHERE lane = ? ORDER BY id", (int(lane),)
            )
            for row_id, count, size in cur:
                if freed >= excess:
                    break
                if row_id in inflight:  # the uplink may be delivering it: not ours to drop
                    continue
                freed += size
                victims.append((row_id,))
                if lane == Lane.BULK:
                    readings += count
                else:
                    anomalies += count
            cur.close()
            if freed >= excess:
                break
        if not victims:
            return
        conn.executemany("DELETE FROM buffer_rows WHERE id = ?", victims)
        meta.rows -= len(victims)
        meta.bytes -= freed
        meta.dropped_readings += readings
        meta.dropped_anomalies += anomalies
        nrows, totals = len(victims), (meta.dropped_readings, meta.dropped_anomalies)
        self._db.after_commit(lambda: self._drop_log.add(nrows, readings, anomalies, *totals))

    def _store(self, conn: sqlite3.Connection, meta: _Meta,
               names: Sequence[str] = _COUNTERS) -> None:
        """Write the counters ``names`` (the ones this transaction may have changed)."""
        conn.executemany(
            "UPDATE buffer_meta SET value = ? WHERE name = ?",
            [(getattr(meta, n), n) for n in names],
        )

        def publish() -> None:
            self._meta = meta

        self._db.after_commit(publish)

    def has_room(self) -> bool:
        return self.overflow != "backpressure" or self._meta.bytes < self.max_bytes

    # -- draining ----------------------------------------------------------------------------

    def begin(self, max_rows: int, max_bytes: int, max_items: int | None = None,
              after: Cursor | None = None, hold: bool = True,
              max_events: int | None = None) -> list[Row]:
        out: list[Row] = []
        total = items = 0
        cap = (1 << 62) if max_items is None else max_items
        event_cap = (1 << 62) if max_events is None else max_events
        past = after or Cursor(0, 0)
        with self._db.reading() as conn:
            for lane, first in ((Lane.PRIORITY, past.priority), (Lane.BULK, past.bulk)):
                cur = conn.execute(
                    "SELECT id, lane, stream, count, size, created_ms, body FROM buffer_rows"
                    " WHERE lane = ? AND id > ? ORDER BY id LIMIT ?",
                    (int(lane), first, max_rows - len(out)),
                )
                full = False
                for r in cur:
                    if out and (total + r[4] > max_bytes or items + r[3] > cap
                                or (lane == Lane.PRIORITY and items + r[3] > event_cap)):
                        full = True
                        break
                    out.append(_row(Row, r))
                    total += r[4]
                    items += r[3]
                cur.close()
                if full or len(out) >= max_rows:
                    break
            # Rows stay in flight until end() settles them or release() says they never left:
            # a batch whose answer was lost may be stored at the cloud.
            if hold:
                self._inflight.update(r.id for r in out)
        return out

    def release(self, rows: Sequence[Row]) -> None:
        with self._db.reading():
            self._inflight.difference_update(r.id for r in rows)

    def end(self, accepted: Sequence[Row], rejected: Sequence[tuple[Row, str]] = (),
            flight: int | None = None) -> None:
        gone = list(accepted) + [row for row, _ in rejected]
        if not gone:
            if flight is not None:
                self.forget(flight)
            return
        # Not fsynced: a power cut that rolls the deletion back makes the uplink send these rows
        # again under the same key, which the cloud answers from its idempotency store.
        with self._db.transaction(synced=False) as conn:
            if flight is not None:
                conn.execute("DELETE FROM uplink_flights WHERE id = ?", (flight,))
            self._inflight.difference_update(r.id for r in gone)
            for row, reason in rejected:
                self._dead.add_row(int(row.lane), row.stream, row.count, row.body,
                                   "uplink_rejected", reason)
            before = conn.total_changes
            conn.executemany("DELETE FROM buffer_rows WHERE id BETWEEN ? AND ?",
                             _runs(sorted(r.id for r in gone)))
            meta = self._pending()
            if conn.total_changes - before == len(gone):
                meta.rows -= len(gone)
                meta.bytes -= sum(row.size for row in gone)
            else:  # some rows were already gone (another process): count what is left
                meta.rows, meta.bytes = conn.execute(
                    "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM buffer_rows").fetchone()
            self._store(conn, meta, ("rows", "bytes"))

    # -- batches on their way ----------------------------------------------------------------

    def remember(self, rows: Sequence[Row]) -> int:
        ranges = []
        for lane in (Lane.PRIORITY, Lane.BULK):
            ids = [r.id for r in rows if r.lane == lane]
            ranges += [min(ids), max(ids)] if ids else [0, -1]
        # Not fsynced: the flight is forgotten by a power cut only if the cloud's write of it
        # may be too; a crash (the case it is for) keeps every commit.
        with self._db.transaction(synced=False) as conn:
            cur = conn.execute(
                "INSERT INTO uplink_flights (prio_first, prio_last, bulk_first, bulk_last)"
                " VALUES (?, ?, ?, ?)", ranges)
            return int(cur.lastrowid or 0)

    def recall(self, after: int = 0) -> tuple[int, list[Row]] | None:
        empty: list[int] = []  # flights none of whose rows are left (settled, expired)
        found: tuple[int, list[Row]] | None = None
        with self._db.reading() as conn:
            flights = conn.execute(
                "SELECT id, prio_first, prio_last, bulk_first, bulk_last FROM uplink_flights"
                " WHERE id > ? ORDER BY id", (after,)).fetchall()
            for flight, p_first, p_last, b_first, b_last in flights:
                rows = [_row(Row, r) for r in conn.execute(
                    "SELECT id, lane, stream, count, size, created_ms, body FROM buffer_rows"
                    " WHERE (lane = ? AND id BETWEEN ? AND ?) OR (lane = ? AND id BETWEEN ? AND ?)"
                    " ORDER BY lane, id",
                    (int(Lane.PRIORITY), p_first, p_last, int(Lane.BULK), b_first, b_last))]
                if rows:
                    self._inflight.update(r.id for r in rows)
                    found = (flight, rows)
                    break
                empty.append(flight)
        for flight in empty:
            self.forget(flight)
        return found

    def forget(self, flight: int) -> None:
        with self._db.transaction(synced=False) as conn:
            conn.execute("DELETE FROM uplink_flights WHERE id = ?", (flight,))

    def expire(self, now_ms: int) -> int:
        cutoff = now_ms - self.retention_ms
        with self._db.transaction() as conn:
            gone = conn.execute(
                "SELECT lane, COUNT(*), COALESCE(SUM(count), 0), COALESCE(SUM(size), 0)"
                " FROM buffer_rows WHERE created_ms < ? GROUP BY lane",
                (cutoff,),
            ).fetchall()
            if not gone:
                return 0
            conn.execute("DELETE FROM buffer_rows WHERE created_ms < ?", (cutoff,))
            meta = self._pending()
            for lane, nrows, items, size in gone:
                meta.rows -= nrows
                meta.bytes -= size
                if lane == Lane.BULK:
                    meta.expired_readings += items
                else:
                    meta.expired_anomalies += items
            self._store(conn, meta)
        n = sum(g[1] for g in gone)
        log.warning("retention: deleted %d rows older than %d s; expired so far: %d readings",
                    n, self.retention_ms // 1000, meta.expired_readings)
        return n

    def stats(self) -> BufferStats:
        with self._db.reading() as conn:
            firsts = [
                conn.execute(
                    "SELECT created_ms FROM buffer_rows WHERE lane = ? ORDER BY id LIMIT 1",
                    (int(lane),),
                ).fetchone()
                for lane in Lane
            ]
        oldest = min((f[0] for f in firsts if f), default=None)
        m = self._meta
        return BufferStats(m.rows, m.bytes, oldest, m.dropped_readings, m.dropped_anomalies,
                           m.expired_readings, m.expired_anomalies)


class _DropLog:
    """Overflow drops as one warning per :data:`DROP_LOG_EVERY_S`, not one per write."""

    def __init__(self) -> None:
        self._next = 0.0
        self._rows = self._readings = self._anomalies = 0

    def add(self, rows: int, readings: int, anomalies: int, total_readings: int,
            total_anomalies: int) -> None:
        self._rows += rows
        self._readings += readings
        self._anomalies += anomalies
        now = time.monotonic()
        if now < self._next:
            return
        log.warning(
            "buffer full: dropped the %d oldest rows (%d readings, %d anomalies) since the last "
            "report; dropped so far: %d readings, %d anomalies",
            self._rows, self._readings, self._anomalies, total_readings, total_anomalies,
        )
        self._next = now + DROP_LOG_EVERY_S
        self._rows = self._readings = self._anomalies = 0


def _runs(ids: Sequence[int]) -> list[tuple[int, int]]:
    """Sorted, distinct ``ids`` as ``(first, last)`` runs of consecutive integers: one
    ``BETWEEN`` deletes exactly each run (ids are unique), one statement for a whole batch of
    readings instead of one per row.

    >>> _runs([3, 4, 5, 9, 11, 12])
    [(3, 5), (9, 9), (11, 12)]
    """
    out: list[tuple[int, int]] = []
    for i in ids:
        if out and out[-1][1] == i - 1:
            out[-1] = (out[-1][0], i)
        else:
            out.append((i, i))
    return out


def _now_ms() -> int:
    return time.time_ns() // 1_000_000
