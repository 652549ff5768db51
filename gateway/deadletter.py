"""The dead-letter store: what the gateway could not use, kept with the reason, never dropped.

Two sources feed it: the intake (a payload that does not decode or validate; the raw bytes,
topic and codec are kept so it can be replayed once the cause is fixed) and the uplink (a buffered
row the cloud refused as invalid; the row is kept so it can be put back in the buffer).
Entries live in the gateway database; adding one joins the caller's transaction, so a
dead-lettered message is acknowledged only once its entry is committed.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

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
"""

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


_COLUMNS = "id, created_ms, source, reason, detail, topic, codec, lane, stream, count, payload"


class DeadLetterStore:
    """Dead letters in the gateway database."""

    def __init__(self, db: Database) -> None:
        self._db = db
        with db.transaction() as conn:
            for statement in _statements():
                conn.execute(statement)

    def add_payload(self, topic: str, codec: str, reason: str, detail: str, payload: bytes) -> None:
        """Keep a payload the intake could not use (joins the current transaction)."""
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO dead_letters (created_ms, source, reason, detail, topic, codec,"
                " payload) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (_now_ms(), INTAKE, reason, detail[:1000], topic, codec, payload),
            )

    def add_row(
        self, lane: int, stream: str, count: int, body: str, reason: str, detail: str
    ) -> None:
        """Keep a buffered row the cloud refused (joins the current transaction)."""
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO dead_letters (created_ms, source, reason, detail, lane, stream, count,"
                " payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (_now_ms(), UPLINK, reason, detail[:1000], lane, stream, count, body.encode()),
            )

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
