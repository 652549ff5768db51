"""The alert lifecycle: pending -> firing -> resolved, one open alert per rule and series.

Every rule kind reports :class:`~cloud.alerting.rules.base.Observation` objects; this module
turns them into alert rows. An alert opens as ``pending`` when its condition first holds, becomes
``firing`` once the condition has held for the rule's ``for_s``, and ``resolved`` when the
condition clears (a pending alert that clears is dropped: it never fired).

Several replicas may evaluate the same series at once. The unique ``open_key`` (rule id +
series) means only one of them can open the alert; every transition is a conditional
``UPDATE ... WHERE state = <expected>`` (under a row lock on PostgreSQL), and the webhook
events of a transition are written to the outbox in the same transaction, so each transition
is notified exactly once.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any, Protocol

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from cloud.alerting.alerts.silences import SilenceStore
from cloud.alerting.alerts.tables import alerts as t_alerts
from cloud.alerting.core.clock import Clock
from cloud.alerting.core.db import Database
from cloud.alerting.core.errors import NotFound
from cloud.alerting.core.sql import is_postgres, retrying
from cloud.alerting.rules.base import Observation, RuleBase, SeriesRef

log = logging.getLogger(__name__)

OPEN_STATES = ("pending", "firing")
_PRIVATE = ("open_key",)


class Notifier(Protocol):
    """Takes events into the durable outbox, inside the caller's transaction."""

    def emit(self, conn: Connection, event_type: str, data: Mapping[str, Any], now_ms: int) -> int:
        """Enqueue ``event_type`` for every endpoint that wants it; the number enqueued."""
        ...


def open_key(rule_id: str, series: SeriesRef) -> str:
    """The dedup key of an open alert: one per rule and series."""
    return f"{rule_id}:{json.dumps([series.device, series.sensor])}"


def public(row: Mapping[str, Any]) -> dict[str, Any]:
    """An alert row as the API and webhooks show it."""
    return {k: v for k, v in row.items() if k not in _PRIVATE}


class AlertManager:
    """Applies observations to alerts; lists, acknowledges, and releases silenced alerts."""

    def __init__(
        self, engine: Database, clock: Clock, silences: SilenceStore, notifier: Notifier
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._silences = silences
        self._notifier = notifier

    def open_keys(self) -> dict[str, str]:
        """Key -> state of every open alert (the evaluator's fast path skips series without
        one, and firing series whose readings stay over the limit)."""
        with self._engine.connect() as conn:
            rows = conn.execute(select(t_alerts.c.open_key, t_alerts.c.state).where(
                t_alerts.c.open_key.is_not(None)))
            return {key: state for key, state in rows}

    def open_series(self, rule_id: str) -> list[SeriesRef]:
        """Series with an open alert of ``rule_id``."""
        with self._engine.connect() as conn:
            rows = conn.execute(select(t_alerts.c.device, t_alerts.c.sensor, t_alerts.c.site).where(
                t_alerts.c.rule_id == rule_id, t_alerts.c.open_key.is_not(None)))
            return [SeriesRef(d, s, site) for d, s, site in rows]

    def apply(self, rule_id: str, rule: RuleBase, observations: Sequence[Observation]) -> None:
        """Apply observations (any series, time order within a series) to the alerts."""
        by_series: dict[SeriesRef, list[Observation]] = {}
        for obs in observations:
            by_series.setdefault(obs.series, []).append(obs)
        for series, seq in by_series.items():
            retrying(partial(self._apply_once, rule_id, rule, series, seq))

    def _apply_once(
        self, rule_id: str, rule: RuleBase, series: SeriesRef, seq: Sequence[Observation]
    ) -> None:
        for attempt in range(3):
            try:
                self._apply_series(rule_id, rule, series, seq)
                return
            except IntegrityError:
                # Another replica opened the same alert first: redo on its row.
                if attempt == 2:
                    raise

    def _apply_series(
        self, rule_id: str, rule: RuleBase, series: SeriesRef, seq: Sequence[Observation]
    ) -> None:
        key = open_key(rule_id, series)
        for_ms = round(rule.for_s * 1000)
        with self._engine.begin() as conn:
            query = select(t_alerts).where(t_alerts.c.open_key == key)
            if is_postgres(conn):
                query = query.with_for_update()
            found = conn.execute(query).first()
            cur: dict[str, Any] | None = dict(found._mapping) if found is not None else None
            last: Observation | None = None
            for obs in seq:
                last = obs
                if obs.active is True:
                    if cur is None:
                        cur = self._open(conn, rule_id, rule, key, obs)
                    if cur["state"] == "pending" and obs.at_ms - cur["started_ms"] >= for_ms:
                        cur = self._fire(conn, cur, obs)
                elif obs.active is False and cur is not None:
                    self._close(conn, cur, obs)
                    cur = None
            if cur is not None and last is not None and last.value is not None:
                conn.execute(update(t_alerts).where(t_alerts.c.id == cur["id"]).values(
                    value=last.value, message=self._message(rule, last),
                    updated_ms=self._clock.now_ms()))

    def _message(self, rule: RuleBase, obs: Observation) -> str:
        s = obs.series
        return rule.text({"device": s.device, "sensor": s.sensor, "site": s.site or "",
                          "value": obs.value, "severity": rule.severity, "unit": "",
                          **obs.fields})

    def _open(
        self, conn: Connection, rule_id: str, rule: RuleBase, key: str, obs: Observation
    ) -> dict[str, Any]:
        s = obs.series
        row: dict[str, Any] = {
               "rule_id": rule_id, "rule_name": rule.name, "kind": getattr(rule, "kind", ""),
               "severity": rule.severity, "site": s.site, "device": s.device,
               "sensor": s.sensor, "state": "pending", "open_key": key, "started_ms": obs.at_ms,
               "fired_ms": None, "resolved_ms": None, "updated_ms": self._clock.now_ms(),
               "value": obs.value, "message": self._message(rule, obs), "acked_ms": None,
               "acked_by": None, "silenced": False, "notified": False}
        inserted = conn.execute(insert(t_alerts).values(**row)).inserted_primary_key
        assert inserted is not None
        row["id"] = inserted[0]
        return row

    def _fire(self, conn: Connection, cur: dict[str, Any], obs: Observation) -> dict[str, Any]:
        done = conn.execute(update(t_alerts).where(
            t_alerts.c.id == cur["id"], t_alerts.c.state == "pending").values(
            state="firing", fired_ms=obs.at_ms, updated_ms=self._clock.now_ms())).rowcount
        if not done:
            return cur
        cur = {**cur, "state": "firing", "fired_ms": obs.at_ms}
        self._notify(conn, "alert.firing", cur)
        return cur

    def _close(self, conn: Connection, cur: dict[str, Any], obs: Observation) -> None:
        if cur["state"] == "pending":
            conn.execute(delete(t_alerts).where(
                t_alerts.c.id == cur["id"], t_alerts.c.state == "pending"))
            return
        done = conn.execute(update(t_alerts).where(
            t_alerts.c.id == cur["id"], t_alerts.c.state == "firing").values(
            state="resolved", open_key=None, resolved_ms=obs.at_ms,
            updated_ms=self._clock.now_ms())).rowcount
        if done and cur["notified"]:
            self._notify(conn, "alert.resolved", {**cur, "state": "resolved",
                                                  "resolved_ms": obs.at_ms, "open_key": None})

    def _notify(self, conn: Connection, event: str, alert: dict[str, Any]) -> None:
        now = self._clock.now_ms()
        silenced = self._silences.silencing(conn, alert, now) is not None
        values: dict[str, Any] = {"silenced": silenced}
        if not silenced:
            self._notifier.emit(conn, event, public(alert), now)
            if event == "alert.firing":
                values["notified"] = True
        conn.execute(update(t_alerts).where(t_alerts.c.id == alert["id"]).values(**values))
        alert.update(values)

    def release_silenced(self) -> int:
        """Notify firing alerts whose firing was silenced and whose silence has ended."""
        with self._engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(select(t_alerts).where(
                t_alerts.c.state == "firing", t_alerts.c.notified.is_(False)))]
        released = 0
        now = self._clock.now_ms()
        for row in rows:
            with self._engine.begin() as conn:
                if self._silences.silencing(conn, row, now) is not None:
                    continue
                claimed = conn.execute(update(t_alerts).where(
                    t_alerts.c.id == row["id"], t_alerts.c.state == "firing",
                    t_alerts.c.notified.is_(False)).values(notified=True, silenced=False))
                if claimed.rowcount:
                    row.update(notified=True, silenced=False)
                    self._notifier.emit(conn, "alert.firing", public(row), now)
                    released += 1
        return released

    def find(
        self, state: str | None = None, severity: str | None = None, device: str | None = None,
        limit: int = 500,
    ) -> list[dict[str, Any]]:
        """Alerts, newest first, filtered by state, severity and device."""
        query = select(t_alerts).order_by(t_alerts.c.id.desc()).limit(limit)
        if state:
            query = query.where(t_alerts.c.state == state)
        if severity:
            query = query.where(t_alerts.c.severity == severity)
        if device:
            query = query.where(t_alerts.c.device == device)
        with self._engine.connect() as conn:
            return [public(dict(r._mapping)) for r in conn.execute(query)]

    def get(self, alert_id: int) -> dict[str, Any]:
        """One alert, or :class:`NotFound`."""
        with self._engine.connect() as conn:
            row = conn.execute(select(t_alerts).where(t_alerts.c.id == alert_id)).first()
        if row is None:
            raise NotFound(f"no alert {alert_id}")
        return public(dict(row._mapping))

    def ack(self, alert_id: int, by: str) -> dict[str, Any]:
        """Acknowledge an alert (idempotent: the first acknowledgement is kept)."""
        now = self._clock.now_ms()
        with self._engine.begin() as conn:
            done = conn.execute(update(t_alerts).where(
                t_alerts.c.id == alert_id, t_alerts.c.acked_ms.is_(None)).values(
                acked_ms=now, acked_by=by, updated_ms=now)).rowcount
            if done:
                row = conn.execute(select(t_alerts).where(t_alerts.c.id == alert_id)).one()
                self._notify(conn, "alert.acknowledged", dict(row._mapping))
        return self.get(alert_id)
