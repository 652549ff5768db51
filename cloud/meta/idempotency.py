"""Idempotency records: one row per (gateway, Idempotency-Key), shared by every cloud replica.

A request first *claims* its key (a ``pending`` row with a short lease), then *completes* it
with the response to replay, kept until ``expires_ms``. A second request with the key gets the
stored response (same body), :class:`~cloud.errors.KeyReused` (different body) or
:class:`~cloud.errors.KeyInFlight` (the first is still running). A request that fails without a
response worth replaying (store down) *releases* the key so the client's retry runs afresh. A
lease that runs out (a replica crashed mid-request) lets the key be claimed again.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    bindparam,
    delete,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from cloud.errors import KeyInFlight, KeyReused
from cloud.meta.db import MetaDB, metadata, now_ms

idempotency = Table(
    "idempotency_records",
    metadata,
    Column("gateway_id", String(128), nullable=False),
    Column("idem_key", String(256), nullable=False),
    Column("body_hash", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("response", Text, nullable=True),
    Column("created_ms", BigInteger, nullable=False),
    Column("expires_ms", BigInteger, nullable=False, index=True),
    PrimaryKeyConstraint("gateway_id", "idem_key"),
)


#: The two statements of every request, built once: constructing them per call cost ~0.2 ms
#: of SQLAlchemy work per ingest request (three times the statements' own time on SQLite).
_CLAIM = idempotency.insert()
_COMPLETE = update(idempotency).where(
    idempotency.c.gateway_id == bindparam("b_gateway"),
    idempotency.c.idem_key == bindparam("b_key"),
).values(state="done", status_code=bindparam("b_status"), response=bindparam("b_body"),
         expires_ms=bindparam("b_expires"))


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """A completed request's response, replayed for a repeat of the same request."""

    status_code: int
    body: str


class IdempotencyRepo:
    """Claim, complete, release and purge idempotency records."""

    def __init__(self, db: MetaDB, lease_s: float, ttl_s: float,
                 purge_every_s: float = 600.0) -> None:
        self.db = db
        self.lease_ms = int(lease_s * 1000)
        self.ttl_ms = int(ttl_s * 1000)
        self.purge_every_ms = int(purge_every_s * 1000)
        self._next_purge_ms = 0

    def claim(self, gateway_id: str, key: str, body_hash: str) -> StoredResponse | None:
        """None when the key is now ours; the stored response to replay when already done.

        Expired records are purged now and then (every ``purge_every_s``) on the way.
        """
        if now_ms() >= self._next_purge_ms:
            self._next_purge_ms = now_ms() + self.purge_every_ms
            self.purge_expired()
        for _attempt in range(5):
            now = now_ms()
            try:
                with self.db.engine.begin() as conn:
                    conn.execute(_CLAIM, {
                        "gateway_id": gateway_id, "idem_key": key, "body_hash": body_hash,
                        "state": "pending", "created_ms": now, "expires_ms": now + self.lease_ms,
                    })
                return None
            except IntegrityError:
                pass
            with self.db.engine.begin() as conn:
                row = conn.execute(select(idempotency).where(
                    idempotency.c.gateway_id == gateway_id, idempotency.c.idem_key == key,
                )).first()
                if row is None:
                    continue
                m = row._mapping
                if m["expires_ms"] <= now:
                    conn.execute(delete(idempotency).where(
                        idempotency.c.gateway_id == gateway_id, idempotency.c.idem_key == key,
                        idempotency.c.expires_ms == m["expires_ms"],
                    ))
                    continue
            if m["body_hash"] != body_hash:
                raise KeyReused("this Idempotency-Key was already used with a different body")
            if m["state"] == "pending":
                raise KeyInFlight("a request with this Idempotency-Key is still in progress")
            return StoredResponse(int(m["status_code"]), str(m["response"]))
        raise KeyInFlight("this Idempotency-Key is contended; retry")

    def complete(self, gateway_id: str, key: str, status_code: int, body: str) -> None:
        """Store the response to replay for this key until the record expires."""
        with self.db.engine.begin() as conn:
            conn.execute(_COMPLETE, {"b_gateway": gateway_id, "b_key": key,
                                     "b_status": status_code, "b_body": body,
                                     "b_expires": now_ms() + self.ttl_ms})

    def release(self, gateway_id: str, key: str) -> None:
        """Forget a claim whose request failed before a response worth replaying."""
        with self.db.engine.begin() as conn:
            conn.execute(delete(idempotency).where(
                idempotency.c.gateway_id == gateway_id, idempotency.c.idem_key == key,
                idempotency.c.state == "pending",
            ))

    def purge_expired(self) -> int:
        """Delete expired records; returns how many."""
        with self.db.engine.begin() as conn:
            res = conn.execute(delete(idempotency).where(idempotency.c.expires_ms <= now_ms()))
        return int(res.rowcount or 0)
