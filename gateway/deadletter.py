"""The dead-letter store: what the gateway could not use, kept with the reason, bounded.

Two sources feed it: the intake (a payload that does not decode or validate; the raw bytes,
topic and codec are kept so it can be replayed once the cause is fixed) and the uplink (a buffered
row the cloud refused as invalid; the row is kept so it can be put back in the buffer).
Entries live in the gateway database; adding one joins the caller's transaction, so a
dead-lettered message is acknowledged only once its entry is committed.

Anything on the network can publish garbage, so the store is bounded: a payload longer than
``max_payload_bytes`` is kept truncated, with its original size and SHA-256 (the entry says
so, and such an entry cannot be replayed); past ``max_total_bytes`` of payloads the oldest
entries are evicted. Evictions are counted (persisted, shown by ``dlq list``, and reported to
``on_evict`` for the metrics), never silent.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.db import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_ms INTEGER NOT NULL,
    source TEXT NOT NULL,
    reason TEXT NOT NULL,
    detail TEXT NOT NULL,
    topic TEXT,
    codec TEXT,
    lane INTEGER,
    stream TEXT,
    count INTEGER,
    payload BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS dead_letters_reason ON dead_letters(reason);
CREATE TABLE IF NOT EXISTS dead_letter_stats (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
"""
#: Columns added after the first release (added to an existing table at start).
_ADDED_COLUMNS = (("payload_bytes", "INTEGER"), ("payload_sha256", "TEXT"))
DEFAULT_MAX_PAYLOAD_BYTES = 64 * 1024
DEFAULT_MAX_TOTAL_BYTES = 64 * 1024 * 1024

INTAKE = "intake"
UPLINK = "uplink"


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One dead-lettered payload (``source`` is ``intake`` or ``uplink``)."""

    id: int
    created_ms: int
    source: str
    reason: str
    detail: str
    topic: str | None
    codec: str | None
    lane: int | None
    stream: str | None
    count: int | None
    payload: bytes
    payload_bytes: int | None = None  #: the original size when ``payload`` was truncated
    payload_sha256: str | None = None  #: the original's SHA-256 when truncated

    @property
    def truncated(self) -> bool:
        return self.payload_sha256 is not None


_COLUMNS = ("id, created_ms, source, reason, detail, topic, codec, lane, stream, count, payload,"
            " payload_bytes, payload_sha256")


class DeadLetterStore:
    """Dead letters in the gateway database."""

    def __init__(self, db: Database, max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
                 max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES,
                 on_evict: Callable[[int], None] | None = None) -> None:
        self._db = db
        self.max_payload_bytes = max_payload_bytes
        self.max_total_bytes = max_total_bytes
        self._on_evict = on_evict
        with db.transaction() as conn:
            for statement in _statements():
                conn.execute(statement)
            have = {r[1] for r in conn.execute("PRAGMA table_info(dead_letters)")}
            for name, kind in _ADDED_COLUMNS:
                if name not in have:
                    conn.execute(f"ALTER TABLE dead_letters ADD COLUMN {name} {kind}")
            self._total = int(conn.execute(
                "SELECT COALESCE(SUM(length(payload)), 0) FROM dead_letters").fetchone()[0])

    def _bounded(self, payload: bytes) -> tuple[bytes, int | None, str | None]:
        if len(payload) <= self.max_payload_bytes:
            return payload, None, None
        return (payload[:self.max_payload_bytes], len(payload),
                hashlib.sha256(payload).hexdigest())

    def add_payload(self, topic: str, codec: str, reason: str, detail: str, payload: bytes) -> None:
        """Keep a payload the intake could not use (joins the current transaction)."""
        kept, size, digest = self._bounded(payload)
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO dead_letters (created_ms, source, reason, detail, topic, codec,"
                " payload, payload_bytes, payload_sha256) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (_now_ms(), INTAKE, reason, detail[:1000], topic, codec, kept, size, digest),
            )
            self._grew(conn, len(kept))

    def add_row(
        self, lane: int, stream: str, count: int, body: str, reason: str, detail: str
    ) -> None:
        """Keep a buffered row the cloud refused (joins the current transaction)."""
        kept, size, digest = self._bounded(body.encode())
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO dead_letters (created_ms, source, reason, detail, lane, stream, count,"
                " payload, payload_bytes, payload_sha256) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (_now_ms(), UPLINK, reason, detail[:1000], lane, stream, count, kept, size,
                 digest),
            )
            self._grew(conn, len(kept))

    def _grew(self, conn: Any, size: int) -> None:
        """Evict the oldest entries while the payloads exceed ``max_total_bytes``."""
        self._total += size
        if self._total <= self.max_total_bytes:
            return
        self._total = int(conn.execute(
            "SELECT COALESCE(SUM(length(payload)), 0) FROM dead_letters").fetchone()[0])
        evicted = 0
        while self._total > self.max_total_bytes:
            row = conn.execute("SELECT id, length(payload) FROM dead_letters ORDER BY id LIMIT 1"
                               ).fetchone()
            if row is None:
                break
            conn.execute("DELETE FROM dead_letters WHERE id = ?", (row[0],))
            self._total -= int(row[1] or 0)
            evicted += 1
        if evicted:
            conn.execute("INSERT INTO dead_letter_stats (name, value) VALUES ('evicted', ?) "
                         "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
                         (evicted,))
            if self._on_evict is not None:
                self._on_evict(evicted)

    def evicted(self) -> int:
        """Entries evicted (oldest first) to keep within ``max_total_bytes``, ever."""
        with self._db.reading() as conn:
            row = conn.execute("SELECT value FROM dead_letter_stats WHERE name = 'evicted'"
                               ).fetchone()
        return int(row[0]) if row else 0

    def entries(self, limit: int = 100, reason: str | None = None) -> list[DeadLetter]:
        """The newest entries first, optionally only one reason."""
        where, args = ("WHERE reason = ?", [reason]) if reason else ("", [])
        with self._db.reading() as conn:
            cur = conn.execute(
                f"SELECT {_COLUMNS} FROM dead_letters {where} ORDER BY id DESC LIMIT ?",
                (*args, limit),
            )
            return [DeadLetter(*r) for r in cur.fetchall()]

    def get(self, entry_id: int) -> DeadLetter | None:
        with self._db.reading() as conn:
            r = conn.execute(
                f"SELECT {_COLUMNS} FROM dead_letters WHERE id = ?", (entry_id,)
            ).fetchone()
        return DeadLetter(*r) if r else None

    def all_ids(self) -> list[int]:
        with self._db.reading() as conn:
            return [r[0] for r in conn.execute("SELECT id FROM dead_letters ORDER BY id")]

    def delete(self, ids: Sequence[int]) -> int:
        """Delete entries by id (joins the current transaction); how many were deleted."""
        with self._db.transaction() as conn:
            return sum(
                conn.execute("DELETE FROM dead_letters WHERE id = ?", (i,)).rowcount for i in ids
            )

    def purge(self, before_ms: int | None = None) -> int:
        """Delete every entry (or those created before ``before_ms``); how many were deleted."""
        with self._db.transaction() as conn:
            if before_ms is None:
                return conn.execute("DELETE FROM dead_letters").rowcount
            return conn.execute(
                "DELETE FROM dead_letters WHERE created_ms < ?", (before_ms,)
            ).rowcount

    def counts(self) -> dict[str, int]:
        """Number of stored entries per reason."""
        with self._db.reading() as conn:
            rows = conn.execute("SELECT reason, COUNT(*) FROM dead_letters GROUP BY reason")
            return {reason: n for reason, n in rows}


def _statements() -> list[str]:
    return [s.strip() for s in SCHEMA.split(";") if s.strip()]


def _now_ms() -> int:
    return time.time_ns() // 1_000_000
