"""The raw intake log: what the broker delivered, made durable before its PUBACK.

The intake thread appends each group of received messages — topic, payload bytes and arrival
time, which is all the processing stage and the de-duplication window need (device, seq and
device timestamp are inside the payload) — in **one** transaction, and acknowledges the group
after the commit. The processing stage (:mod:`gateway.processor`) reads the log in id order from
its own connection and keeps its cursor in the gateway database, in the same transaction as the
rows it produced. Processed entries are trimmed by the intake thread (the log's only writer), so
the two stages never wait for each other's write lock.

The log is its own SQLite file (``intake.db`` in ``gateway.data_dir``, WAL): its commits are
small and frequent and must not queue behind the processing stage's larger transactions in the
gateway database. ``durability="power-loss"`` (the default) runs ``synchronous=FULL``, so each
group commit is fsynced before its PUBACKs leave; ``"process"`` runs ``synchronous=NORMAL``.

Ids come from ``AUTOINCREMENT`` and are never reused, also once the log is empty; at open the
sequence is raised to the processing cursor, so a log file lost or deleted by hand can never
make new entries look processed.

>>> import tempfile; from pathlib import Path
>>> log = RawLog(Path(tempfile.mkdtemp()) / "intake.db"); log.open(floor=41)
>>> log.append([("sensors/s/d/json", b"{}", 1)])
42
>>> [(i, t) for i, t, _, _ in log.read(after=0, limit=10)]
[(42, 'sensors/s/d/json')]
>>> log.processed(42); log.trim(); log.backlog, log.read(after=0, limit=10)
(0, [])
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

from gateway.db import SYNCHRONOUS
from gateway.errors import StoreError

#: (topic, payload, received_ms) as the intake appends it.
Entry = tuple[str, bytes, int]
#: (id, topic, payload, received_ms) as the processing stage reads it.
Logged = tuple[int, str, bytes, int]

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS intake_log (id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " topic TEXT NOT NULL, payload BLOB NOT NULL, received_ms INTEGER NOT NULL)"
)


class RawLog:
    """One writer (the intake thread) and one reader (the processing stage)."""

    def __init__(self, path: Path, durability: str = "power-loss") -> None:
        if durability not in SYNCHRONOUS:
            raise StoreError(f"unknown durability {durability!r}")
        self.path = path
        self.durability = durability
        self._writer: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        self._read_lock = threading.Lock()
        self._last = 0  # the newest id appended
        self._done = 0  # the newest id processed (published by the processing stage)
        self._trimmed = 0

    def open(self, floor: int = 0) -> None:
        """Open or create the file; ``floor`` is the processing cursor (ids stay above it)."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = self._connect()
            self._writer.execute(_SCHEMA)
            self._writer.execute("BEGIN IMMEDIATE")
            seq = self._writer.execute(
                "SELECT seq FROM sqlite_sequence WHERE name = 'intake_log'").fetchone()
            if seq is None:
                self._writer.execute(
                    "INSERT INTO sqlite_sequence (name, seq) VALUES ('intake_log', ?)", (floor,))
            elif seq[0] < floor:
                self._writer.execute(
                    "UPDATE sqlite_sequence SET seq = ? WHERE name = 'intake_log'", (floor,))
            self._writer.execute("DELETE FROM intake_log WHERE id <= ?", (floor,))
            self._writer.execute("COMMIT")
            self._last = max(floor, seq[0] if seq else 0)
            self._done = self._trimmed = floor
            self._reader = self._connect()
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the intake log {self.path}: {exc}") from exc

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                               timeout=30.0)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={SYNCHRONOUS[self.durability]}")
        conn.execute("PRAGMA cache_size=-128")  # appended and read once, in order: 128 KiB
        return conn

    def close(self) -> None:
        with self._read_lock:
            for conn in (self._reader, self._writer):
                if conn is not None:
                    with contextlib.suppress(sqlite3.Error):
                        conn.close()
            self._reader = self._writer = None

    # -- the intake thread -------------------------------------------------------------------

    def append(self, entries: Sequence[Entry]) -> int:
        """Append ``entries`` (and trim what is processed) in one commit; the newest id."""
        conn = self._writer
        if conn is None:
            raise StoreError("the intake log is not open")
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                cur = conn.executemany(
                    "INSERT INTO intake_log (topic, payload, received_ms) VALUES (?, ?, ?)",
                    entries)
                cur.close()
                last = int(conn.execute("SELECT last_insert_rowid()").fetchone()[0])
                self._trim_in(conn)
                conn.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise StoreError(f"intake log write failed: {exc}") from exc
        if entries:
            self._last = last
        return self._last

    def trim(self) -> None:
        """Delete the processed entries (the intake thread calls it when idle)."""
        if self._done <= self._trimmed or self._writer is None:
            return
        try:
            self._writer.execute("BEGIN IMMEDIATE")
            self._trim_in(self._writer)
            self._writer.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                self._writer.execute("ROLLBACK")
            raise StoreError(f"intake log trim failed: {exc}") from exc

    def _trim_in(self, conn: sqlite3.Connection) -> None:
        done = self._done
        if done > self._trimmed:
            conn.execute("DELETE FROM intake_log WHERE id <= ?", (done,))
            self._trimmed = done

    # -- the processing stage ----------------------------------------------------------------

    def read(self, after: int, limit: int) -> list[Logged]:
        """Up to ``limit`` entries with ids above ``after``, oldest first."""
        with self._read_lock:
            if self._reader is None:
                raise StoreError("the intake log is not open")
            try:
                return self._reader.execute(
                    "SELECT id, topic, payload, received_ms FROM intake_log WHERE id > ?"
                    " ORDER BY id LIMIT ?", (after, limit)).fetchall()
            except sqlite3.Error as exc:
                raise StoreError(f"intake log read failed: {exc}") from exc

    def processed(self, upto: int) -> None:
        """Entries up to ``upto`` are processed durably: the writer may trim them."""
        self._done = max(self._done, upto)

    @property
    def backlog(self) -> int:
        """Entries appended and not yet processed."""
        return max(0, self._last - self._done)

    @property
    def last_id(self) -> int:
        return self._last
