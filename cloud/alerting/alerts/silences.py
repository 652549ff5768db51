"""Silences: a matcher and a time range that suppress notifications (alerts are still kept).

A matcher holds shell-style patterns on ``site``, ``device``, ``sensor``, ``rule`` (id or
name) and ``severity``; a silence applies to an alert when every pattern matches.
"""

from __future__ import annotations

import fnmatch
import json
import uuid
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, Field, model_validator
from sqlalchemy import Connection, delete, insert, select

from cloud.alerting.alerts.tables import silences as t_silences
from cloud.alerting.core.clock import Clock
from cloud.alerting.core.db import Database
from cloud.alerting.core.errors import InvalidRequest, NotFound
from cloud.validation import REQUEST_CONFIG, EpochMs, FreeText, NamePattern


class Matcher(BaseModel):
    """Patterns an alert must all match to be silenced."""

    model_config = REQUEST_CONFIG

    site: NamePattern = "*"
    device: NamePattern = "*"
    sensor: NamePattern = "*"
    rule: NamePattern = Field(default="*", description="Rule id or name pattern.")
    severity: NamePattern = Field(default="*", max_length=16)

    def matches(self, alert: Mapping[str, Any]) -> bool:
        """Whether ``alert`` (a row of the alerts table) is covered."""
        def ok(value: object, pattern: str) -> bool:
            return fnmatch.fnmatchcase(str(value or ""), pattern)

        return (
            ok(alert.get("site"), self.site) and ok(alert["device"], self.device)
            and ok(alert["sensor"], self.sensor) and ok(alert["severity"], self.severity)
            and (ok(alert["rule_id"], self.rule) or ok(alert["rule_name"], self.rule))
        )


class SilenceIn(BaseModel):
    """A silence to create; ``starts_ms`` defaults to now."""

    model_config = REQUEST_CONFIG

    matcher: Matcher = Field(default_factory=Matcher)
    starts_ms: EpochMs | None = None
    ends_ms: EpochMs
    comment: FreeText = Field(default="", max_length=1000)
    created_by: FreeText = Field(default="", max_length=200)

    @model_validator(mode="after")
    def _check(self) -> SilenceIn:
        if self.starts_ms is not None and self.ends_ms <= self.starts_ms:
            raise ValueError("ends_ms must be after starts_ms")
        return self


class SilenceStore:
    """Silences in the metadata database."""

    def __init__(self, engine: Database, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock

    def create(self, silence: SilenceIn) -> dict[str, Any]:
        """Store a silence; returns it as the API shows it."""
        now = self._clock.now_ms()
        starts = now if silence.starts_ms is None else silence.starts_ms
        if silence.ends_ms <= starts:
            raise InvalidRequest("ends_ms must be in the future")
        row = {"id": f"sil_{uuid.uuid4().hex[:20]}", "matchers": silence.matcher.model_dump_json(),
               "starts_ms": starts, "ends_ms": silence.ends_ms, "comment": silence.comment,
               "created_by": silence.created_by, "created_ms": now}
        with self._engine.begin() as conn:
            conn.execute(insert(t_silences).values(**row))
        return _public(row)

    def all(self) -> list[dict[str, Any]]:
        """All silences, newest first."""
        with self._engine.connect() as conn:
            rows = conn.execute(select(t_silences).order_by(t_silences.c.created_ms.desc()))
            return [_public(dict(r._mapping)) for r in rows]

    def delete(self, silence_id: str) -> None:
        """Remove (expire) a silence."""
        with self._engine.begin() as conn:
            if not conn.execute(delete(t_silences).where(t_silences.c.id == silence_id)).rowcount:
                raise NotFound(f"no silence {silence_id}")

    def silencing(self, conn: Connection, alert: Mapping[str, Any], now_ms: int) -> str | None:
        """The id of an active silence covering ``alert``, or None."""
        rows = conn.execute(select(t_silences.c.id, t_silences.c.matchers).where(
            t_silences.c.starts_ms <= now_ms, t_silences.c.ends_ms > now_ms))
        for sid, matchers in rows:
            if Matcher.model_validate_json(matchers).matches(alert):
                return str(sid)
        return None


def _public(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if k != "matchers"}
    out["matcher"] = json.loads(row["matchers"])
    return out
