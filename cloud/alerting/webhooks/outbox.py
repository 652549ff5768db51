"""The durable outbox of webhook deliveries, in the metadata database.

An event is fanned out to one row per subscribed endpoint inside the transaction that caused
it (an alert transition), so an event is never lost and never enqueued twice. The row id is
the ``webhook-id`` header and stays the same across retries and manual redelivery.

Workers claim due rows with a lease: on PostgreSQL ``SELECT ... FOR UPDATE SKIP LOCKED`` then
an ``UPDATE`` of the claim; on SQLite (one writer at a time) a single guarded ``UPDATE``. A
result is written only while the claim is still the worker's (``claim_token``), so two
replicas never send the same delivery twice.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, insert, or_, select, update

from cloud.alerting.core.clock import Clock
from cloud.alerting.core.db import Database
from cloud.alerting.core.errors import NotFound
from cloud.alerting.core.sql import is_postgres
from cloud.alerting.webhooks.endpoints import EndpointStore
from cloud.alerting.webhooks.tables import webhook_attempts as t_attempts
from cloud.alerting.webhooks.tables import webhook_deliveries as t_deliveries


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of one attempt: ``state`` is ``delivered``, ``pending`` (retry) or ``failed``."""

    state: str
    status: int | None
    error: str | None
    next_attempt_ms: int
    duration_ms: int


class Outbox:
    """Enqueues events (it is the alert manager's notifier), claims and settles deliveries."""

    def __init__(self, engine: Database, clock: Clock, endpoints: EndpointStore) -> None:
        self._engine = engine
        self._clock = clock
        self._endpoints = endpoints

    def emit(self, conn: Any, event_type: str, data: Mapping[str, Any], now_ms: int) -> int:
        """Enqueue ``event_type`` for every subscribed endpoint, in the caller's transaction."""
        targets = self._endpoints.subscribers(conn, event_type)
        if not targets:
            return 0
        stamp = datetime.fromtimestamp(now_ms / 1000, UTC).isoformat().replace("+00:00", "Z")
        payload = json.dumps({"type": event_type, "timestamp": stamp, "data": dict(data)},
                             separators=(",", ":"), sort_keys=True)
        conn.execute(insert(t_deliveries), [
            {"id": f"msg_{uuid.uuid4().hex}", "endpoint_id": eid, "event_type": event_type,
             "payload": payload, "state": "pending", "attempts": 0, "next_attempt_ms": now_ms,
             "claim_token": None, "claim_until_ms": None, "last_status": None,
             "last_error": None, "created_ms": now_ms, "delivered_ms": None}
            for eid in targets])
        return len(targets)

    def claim(self, limit: int, lease_ms: int) -> tuple[str, list[dict[str, Any]]]:
        """Claim up to ``limit`` due deliveries for ``lease_ms``; the token and the rows."""
        now = self._clock.now_ms()
        token = uuid.uuid4().hex
        c = t_deliveries.c
        due = and_(c.state == "pending", c.next_attempt_ms <= now,
                   or_(c.claim_until_ms.is_(None), c.claim_until_ms < now))
        claim = {"claim_token": token, "claim_until_ms": now + lease_ms}
        with self._engine.begin() as conn:
            candidates = select(c.id).where(due).order_by(c.next_attempt_ms).limit(limit)
            if is_postgres(conn):
                ids = [r[0] for r in conn.execute(candidates.with_for_update(skip_locked=True))]
                if ids:
                    conn.execute(update(t_deliveries).where(c.id.in_(ids)).values(**claim))
            else:
                conn.execute(update(t_deliveries).where(c.id.in_(candidates), due).values(**claim))
            rows = conn.execute(select(t_deliveries).where(c.claim_token == token)
                                .order_by(c.next_attempt_ms))
            return token, [dict(r._mapping) for r in rows]

    def settle(self, delivery: Mapping[str, Any], token: str, outcome: Outcome) -> bool:
        """Record an attempt's outcome if the claim is still ours; whether it was."""
        now = self._clock.now_ms()
        c = t_deliveries.c
        values: dict[str, Any] = {
            "state": outcome.state, "attempts": delivery["attempts"] + 1,
            "last_status": outcome.status, "last_error": outcome.error,
            "next_attempt_ms": outcome.next_attempt_ms, "claim_token": None,
            "claim_until_ms": None}
        if outcome.state == "delivered":
            values["delivered_ms"] = now
        with self._engine.begin() as conn:
            done = conn.execute(update(t_deliveries).where(
                c.id == delivery["id"], c.claim_token == token).values(**values)).rowcount
            conn.execute(insert(t_attempts).values(
                delivery_id=delivery["id"], at_ms=now, status=outcome.status,
                error=outcome.error, duration_ms=outcome.duration_ms))
        return bool(done)

    def deliveries(self, endpoint_id: str, limit: int = 100) -> list[dict[str, Any]]:
        """An endpoint's deliveries, newest first, with their attempts."""
        self._endpoints.get(endpoint_id)
        c = t_deliveries.c
        with self._engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(
                select(t_deliveries).where(c.endpoint_id == endpoint_id)
                .order_by(c.created_ms.desc(), c.id).limit(limit))]
            ids = [r["id"] for r in rows]
            attempts: dict[str, list[dict[str, Any]]] = {}
            for a in conn.execute(select(t_attempts).where(t_attempts.c.delivery_id.in_(ids))
                                  .order_by(t_attempts.c.id)):
                m = dict(a._mapping)
                attempts.setdefault(m.pop("delivery_id"), []).append(
                    {k: m[k] for k in ("at_ms", "status", "error", "duration_ms")})
        for row in rows:
            row["payload"] = json.loads(row["payload"])
            row.pop("claim_token")
            row["attempt_log"] = attempts.get(row["id"], [])
        return rows

    def redeliver(self, endpoint_id: str, delivery_id: str) -> dict[str, Any]:
        """Queue a delivery again now, with the same ``webhook-id`` and body."""
        endpoint = self._endpoints.get(endpoint_id)
        if not endpoint["enabled"]:
            raise NotFound(f"webhook {endpoint_id} is disabled: {endpoint['disabled_reason']}")
        c = t_deliveries.c
        with self._engine.begin() as conn:
            done = conn.execute(update(t_deliveries).where(
                c.id == delivery_id, c.endpoint_id == endpoint_id).values(
                state="pending", attempts=0, next_attempt_ms=self._clock.now_ms(),
                claim_token=None, claim_until_ms=None)).rowcount
        if not done:
            raise NotFound(f"no delivery {delivery_id} for webhook {endpoint_id}")
        return {"id": delivery_id, "state": "pending"}

    def pending(self) -> int:
        """Deliveries still waiting (for health and tests)."""
        with self._engine.connect() as conn:
            return len(conn.execute(select(t_deliveries.c.id).where(
                t_deliveries.c.state == "pending")).all())
