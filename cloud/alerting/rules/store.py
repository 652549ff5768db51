"""Rule specifications in the metadata database, with a short per-replica cache.

Rules are validated when written, and loaded one by one: a row that no longer loads (written
by an older version, or by hand, e.g. a NaN limit) is skipped with its error, logged once,
listed by :meth:`RuleRepository.broken` (shown on ``/v1/rules`` and ``/v1/pipeline/health``),
and every other rule keeps working.
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import delete, insert, select, update

from cloud.alerting.core.clock import Clock
from cloud.alerting.core.db import Database
from cloud.alerting.core.errors import InvalidRule, NotFound
from cloud.alerting.rules import RuleSpec, rule_adapter
from cloud.alerting.rules.tables import rules as t_rules
from cloud.redact import redact

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StoredRule:
    """A rule with its id and timestamps."""

    id: str
    spec: RuleSpec
    created_ms: int
    updated_ms: int


@dataclass(frozen=True, slots=True)
class BrokenRule:
    """A stored rule that does not load, and why."""

    id: str
    name: str
    kind: str
    error: str
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
        self._broken: list[BrokenRule] = []
        self._logged: set[tuple[str, int]] = set()

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
        """One rule, or :class:`NotFound` (:class:`InvalidRule` when it does not load)."""
        found = self.get_any(rule_id)
        if isinstance(found, BrokenRule):
            raise InvalidRule(f"rule {rule_id} does not load: {found.error}")
        return found

    def get_any(self, rule_id: str) -> StoredRule | BrokenRule:
        """One rule, loaded or broken, or :class:`NotFound`."""
        with self._engine.connect() as conn:
            row = conn.execute(select(t_rules).where(t_rules.c.id == rule_id)).first()
        if row is None:
            raise NotFound(f"no rule {rule_id}")
        return self._load(row._mapping)

    def load(self) -> list[StoredRule | BrokenRule]:
        """Every rule, oldest first, each loaded on its own (broken ones as :class:`BrokenRule`)."""
        with self._engine.connect() as conn:
            rows = conn.execute(select(t_rules).order_by(t_rules.c.created_ms, t_rules.c.id))
            out = [self._load(r._mapping) for r in rows]
        broken = [r for r in out if isinstance(r, BrokenRule)]
        with self._lock:
            self._broken = broken
        return out

    def all(self) -> list[StoredRule]:
        """Every rule that loads, oldest first."""
        return [r for r in self.load() if isinstance(r, StoredRule)]

    def broken(self) -> list[BrokenRule]:
        """The rules that did not load at the last load (each was logged once)."""
        with self._lock:
            return list(self._broken)

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

    def _load(self, row: Any) -> StoredRule | BrokenRule:
        m = dict(row)
        try:
            return StoredRule(m["id"], rule_adapter.validate_json(m["spec"]), m["created_ms"],
                              m["updated_ms"])
        except (ValidationError, ValueError, TypeError) as exc:
            error = _reason(exc)
        key = (str(m["id"]), int(m["updated_ms"]))
        with self._lock:
            first = key not in self._logged
            self._logged.add(key)
        if first:
            log.error("rule %s (%s) does not load and is skipped: %s", m["id"], m["name"], error)
        return BrokenRule(m["id"], m["name"], m["kind"], error, m["created_ms"], m["updated_ms"])

    def _invalidate(self) -> None:
        with self._lock:
            self._cache = None


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError) and exc.errors():
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        return redact(f"{loc}: {err['msg']}" if loc else str(err["msg"]))
    return redact(str(exc) or type(exc).__name__)
