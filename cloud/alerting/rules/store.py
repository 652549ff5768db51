"""Rule specifications in the metadata database, with a short per-replica cache."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass

from sqlalchemy import delete, insert, select, update

from cloud.alerting.core.clock import Clock
from cloud.alerting.core.db import Database
from cloud.alerting.core.errors import NotFound
from cloud.alerting.rules import RuleSpec, rule_adapter
from cloud.alerting.rules.tables import rules as t_rules


@dataclass(frozen=True, slots=True)
class StoredRule:
    """A rule with its id and timestamps."""

    id: str
    spec: RuleSpec
    created_ms: int
    updated_ms: int


class RuleRepository:
    """CRUD on rules; :meth:`active` serves the evaluator from a cache of ``refresh_s``."""

    def __init__(self, engine: Database, clock: Clock, refresh_s: float = 2.0) -> None:
        self._engine = engine
        self._clock = clock
        self._refresh_ms = round(refresh_s * 1000)
        self._lock = threading.Lock()
        self._cache: list[StoredRule] | None = None
        self._cached_at = 0

    def create(self, spec: RuleSpec) -> StoredRule:
        """Store a new rule."""
        now = self._clock.now_ms()
        rid = f"rule_{uuid.uuid4().hex[:20]}"
        with self._engine.begin() as conn:
            conn.execute(insert(t_rules).values(
                id=rid, name=spec.name, kind=spec.kind, spec=spec.model_dump_json(),
                enabled=spec.enabled, created_ms=now, updated_ms=now))
        self._invalidate()
        return StoredRule(rid, spec, now, now)

    def replace(self, rule_id: str, spec: RuleSpec) -> StoredRule:
        """Replace a rule's specification (its open alerts stay open under the same id)."""
        now = self._clock.now_ms()
        with self._engine.begin() as conn:
            done = conn.execute(update(t_rules).where(t_rules.c.id == rule_id).values(
                name=spec.name, kind=spec.kind, spec=spec.model_dump_json(),
                enabled=spec.enabled, updated_ms=now)).rowcount
        if not done:
            raise NotFound(f"no rule {rule_id}")
        self._invalidate()
        return self.get(rule_id)

    def delete(self, rule_id: str) -> None:
        """Remove a rule (its alerts are kept as records)."""
        with self._engine.begin() as conn:
            done = conn.execute(delete(t_rules).where(t_rules.c.id == rule_id)).rowcount
        if not done:
            raise NotFound(f"no rule {rule_id}")
        self._invalidate()

    def get(self, rule_id: str) -> StoredRule:
        """One rule, or :class:`NotFound`."""
        with self._engine.connect() as conn:
            row = conn.execute(select(t_rules).where(t_rules.c.id == rule_id)).first()
        if row is None:
            raise NotFound(f"no rule {rule_id}")
        return _stored(row._mapping)

    def all(self) -> list[StoredRule]:
        """Every rule, oldest first."""
        with self._engine.connect() as conn:
            rows = conn.execute(select(t_rules).order_by(t_rules.c.created_ms, t_rules.c.id))
            return [_stored(r._mapping) for r in rows]

    def active(self) -> list[StoredRule]:
        """Enabled rules, cached for ``refresh_s`` (other replicas' edits show up after it)."""
        now = self._clock.now_ms()
        with self._lock:
            if self._cache is not None and now - self._cached_at < self._refresh_ms:
                return self._cache
        fresh = [r for r in self.all() if r.spec.enabled]
        with self._lock:
            self._cache, self._cached_at = fresh, now
        return fresh

    def _invalidate(self) -> None:
        with self._lock:
            self._cache = None


def _stored(row: object) -> StoredRule:
    m = dict(row)  # type: ignore[call-overload]
    return StoredRule(m["id"], rule_adapter.validate_json(m["spec"]), m["created_ms"],
                      m["updated_ms"])
