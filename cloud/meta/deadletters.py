"""The cloud's dead-letter table: every reading or anomaly it refused, with the reason.

Nothing the gateway sent is silently dropped: a refused entry is kept here, verbatim, with the
batch it came in, its index and a reason code and text (also counted in ``/metrics``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, Column, Integer, String, Table, Text, func, select

from cloud.meta.db import MetaDB, metadata, now_ms

dead_letters = Table(
    "dead_letters",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("received_ms", BigInteger, nullable=False, index=True),
    Column("gateway_id", String(128), nullable=False),
    Column("batch_id", String(256), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("idx", Integer, nullable=False),
    Column("code", String(64), nullable=False),
    Column("reason", Text, nullable=False),
    Column("payload", Text, nullable=False),
)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    kind: str  #: "reading" or "anomaly"
    index: int
    code: str
    reason: str
    payload: Any


class DeadLetters:
    """Append refused entries and read them back."""

    def __init__(self, db: MetaDB) -> None:
        self.db = db

    def add(self, gateway_id: str, batch_id: str, entries: Sequence[DeadLetter]) -> None:
        if not entries:
            return
        now = now_ms()
        with self.db.engine.begin() as conn:
            conn.execute(dead_letters.insert(), [
                {"received_ms": now, "gateway_id": gateway_id, "batch_id": batch_id,
                 "kind": e.kind, "idx": e.index, "code": e.code,
                 "reason": e.reason.encode("utf-8", "replace").decode(),
                 "payload": json.dumps(e.payload, default=repr)}
                for e in entries
            ])

    def recent(self, limit: int = 100) -> list[dict[str, Any]]:
        with self.db.engine.connect() as conn:
            rows = conn.execute(
                select(dead_letters).order_by(dead_letters.c.id.desc()).limit(limit)
            ).all()
        return [dict(r._mapping) for r in rows]

    def count(self) -> int:
        with self.db.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(dead_letters)).scalar_one())
