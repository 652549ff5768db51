"""The gateway's one SQLite database: WAL journal, one writer lock, nestable transactions.

The buffer, the dead-letter store and the de-duplication window keep their tables in the same
file so that one group commit covers all three: a message's outcome (buffered, dead-lettered or
seen as a duplicate) becomes durable in a single transaction before its PUBACK is sent.

``durability="process"`` runs ``synchronous=NORMAL``: a committed transaction survives the
process being killed (the WAL is in the operating system's cache), not a power cut.
``durability="power-loss"`` runs ``synchronous=FULL``: every commit is fsynced, except those
of a ``transaction(synced=False)`` (writes that a power cut may undo harmlessly).
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from gateway.errors import StoreError

SYNCHRONOUS = {"process": "NORMAL", "power-loss": "FULL"}


class Database:
    """One connection shared by the gateway's threads, serialised by a re-entrant lock."""

    def __init__(self, path: Path, durability: str = "process") -> None:
        if durability not in SYNCHRONOUS:
            raise StoreError(f"unknown durability {durability!r}")
        self.path = path
        self.durability = durability
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._depth = 0
        self._after_commit: list[Callable[[], None]] = []
        self._before_commit: list[Callable[[], None]] = []
        #: Increments at every outermost BEGIN: lets stores keep per-transaction state.
        self.txn_id = 0

    def open(self) -> None:
        """Open (creating the directory and file when needed) and set the journal mode."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=30.0
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={SYNCHRONOUS[self.durability]}")
            conn.execute("PRAGMA busy_timeout=30000")
            # 512 KiB of page cache, not SQLite's default 2 MB: the buffer is appended at its
            # end and read from its start, and the page cache sits on the OS's. Decision 83.
            conn.execute("PRAGMA cache_size=-512")
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the gateway database {self.path}: {exc}") from exc
        self._conn = conn

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                self._conn.close()
                self._conn = None

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError("the gateway database is not open")
        return self._conn

    @contextlib.contextmanager
    def transaction(self, synced: bool = True) -> Iterator[sqlite3.Connection]:
        """A write transaction; nested calls join the outermost one (one commit for all).

        ``synced=False`` (outermost only) commits without an fsync even under
        ``power-loss``: for writes a power cut may roll back harmlessly, such as deleting rows
        the cloud acknowledged (they would be sent again, under the same idempotency key). A
        later synced commit makes them durable too (the WAL is written in order)."""
        with self._lock:
            conn = self.conn
            if self._depth == 0 and not synced and self.durability != "process":
                try:
                    conn.execute("PRAGMA synchronous=NORMAL")
                except sqlite3.Error as exc:
                    raise StoreError(f"database write failed: {exc}") from exc
                try:
                    with self.transaction() as inner:
                        yield inner
                finally:
                    try:  # never leave the connection unsynced for the commits after this
                        conn.execute(f"PRAGMA synchronous={SYNCHRONOUS[self.durability]}")
                    except sqlite3.Error as exc:
                        raise StoreError(f"cannot restore synchronous: {exc}") from exc
                return
            if self._depth == 0:
                conn.execute("BEGIN IMMEDIATE")
                self.txn_id += 1
                self._after_commit = []
                self._before_commit = []
            self._depth += 1
            try:
                yield conn
            except BaseException as exc:
                self._depth -= 1
                if self._depth == 0:
                    self._after_commit = []
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise StoreError(f"database write failed: {exc}") from exc
                raise
            if self._depth == 1:
                try:
                    for flush in self._before_commit:
                        flush()
                except BaseException as exc:
                    self._depth = 0
                    self._after_commit = []
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                    if isinstance(exc, sqlite3.Error):
                        raise StoreError(f"database write failed: {exc}") from exc
                    raise
            self._depth -= 1
            if self._depth == 0:
                try:
                    conn.execute("COMMIT")
                except sqlite3.Error as exc:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                    self._after_commit = []
                    raise StoreError(f"commit failed: {exc}") from exc
                hooks, self._after_commit = self._after_commit, []
                for hook in hooks:
                    hook()

    def before_commit(self, flush: Callable[[], None]) -> None:
        """Run ``flush`` inside the current transaction just before it commits."""
        with self._lock:
            if self._depth == 0:
                raise StoreError("before_commit() needs a transaction in progress")
            self._before_commit.append(flush)

    def after_commit(self, hook: Callable[[], None]) -> None:
        """Run ``hook`` once the current transaction has committed (dropped on rollback)."""
        with self._lock:
            if self._depth == 0:
                hook()
            else:
                self._after_commit.append(hook)

    @property
    def active_txn(self) -> int | None:
        """The id of the transaction in progress, or None outside any."""
        return self.txn_id if self._depth > 0 else None

    @contextlib.contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """The connection, for reads, under the lock."""
        with self._lock:
            yield self.conn

    def file_bytes(self) -> int:
        """Bytes the database occupies on disk (main file plus WAL)."""
        total = 0
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(OSError):
                total += Path(f"{self.path}{suffix}").stat().st_size
        return total
