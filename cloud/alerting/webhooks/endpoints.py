"""Webhook endpoints: a URL, an event filter and a signing secret shown once at creation."""

from __future__ import annotations

import fnmatch
import json
import uuid
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import Connection, delete, insert, select, update

from cloud.alerting.core.clock import Clock
from cloud.alerting.core.db import Database
from cloud.alerting.core.errors import NotFound
from cloud.alerting.settings import WebhookSettings
from cloud.alerting.webhooks.signing import new_secret
from cloud.alerting.webhooks.ssrf import check_url
from cloud.alerting.webhooks.tables import webhook_deliveries as t_deliveries
from cloud.alerting.webhooks.tables import webhook_endpoints as t_endpoints
from cloud.validation import REQUEST_CONFIG, FreeText, NamePattern

#: Event types the service emits (the filter also takes shell patterns such as ``alert.*``).
EVENT_TYPES = ("alert.firing", "alert.resolved", "alert.acknowledged")


class WebhookIn(BaseModel):
    """An endpoint to register."""

    model_config = REQUEST_CONFIG

    url: FreeText = Field(..., min_length=8, max_length=2000)
    events: list[NamePattern] = Field(default=["*"], min_length=1, max_length=50,
                                      description="Event types or patterns, e.g. ['alert.*'].")
    description: FreeText = Field(default="", max_length=500)


def wants(patterns: list[str], event_type: str) -> bool:
    """Whether an endpoint's filter takes ``event_type``.

    >>> wants(["alert.firing"], "alert.resolved"), wants(["alert.*"], "alert.resolved")
    (False, True)
    """
    return any(fnmatch.fnmatchcase(event_type, p) for p in patterns)


class EndpointStore:
    """Endpoints in the metadata database."""

    def __init__(self, engine: Database, clock: Clock, settings: WebhookSettings) -> None:
        self._engine = engine
        self._clock = clock
        self._settings = settings

    def check(self, url: str) -> list[str]:
        """The addresses to connect to for ``url``, each checked;
        :class:`~cloud.alerting.core.errors.UnsafeTarget` for a disallowed target."""
        return check_url(url, self._settings.allow_loopback, self._settings.allow_private)

    def create(self, endpoint: WebhookIn) -> dict[str, Any]:
        """Register an endpoint; the returned dict is the only place its secret appears."""
        self.check(endpoint.url)
        row = {"id": f"ep_{uuid.uuid4().hex[:20]}", "url": endpoint.url,
               "events": json.dumps(endpoint.events), "secret": new_secret(),
               "description": endpoint.description, "enabled": True, "disabled_reason": None,
               "created_ms": self._clock.now_ms()}
        with self._engine.begin() as conn:
            conn.execute(insert(t_endpoints).values(**row))
        return {**public(row), "secret": row["secret"]}

    def all(self) -> list[dict[str, Any]]:
        """Every endpoint (without secrets)."""
        with self._engine.connect() as conn:
            rows = conn.execute(select(t_endpoints).order_by(t_endpoints.c.created_ms))
            return [public(r._mapping) for r in rows]

    def row(self, endpoint_id: str, conn: Connection | None = None) -> dict[str, Any]:
        """The full row (with the secret), for the delivery worker."""
        query = select(t_endpoints).where(t_endpoints.c.id == endpoint_id)
        if conn is None:
            with self._engine.connect() as own:
                found = own.execute(query).first()
        else:
            found = conn.execute(query).first()
        if found is None:
            raise NotFound(f"no webhook {endpoint_id}")
        return dict(found._mapping)

    def get(self, endpoint_id: str) -> dict[str, Any]:
        """One endpoint (without its secret)."""
        return public(self.row(endpoint_id))

    def delete(self, endpoint_id: str) -> None:
        """Remove an endpoint; its pending deliveries fail with a reason."""
        with self._engine.begin() as conn:
            gone = delete(t_endpoints).where(t_endpoints.c.id == endpoint_id)
            if not conn.execute(gone).rowcount:
                raise NotFound(f"no webhook {endpoint_id}")
            conn.execute(update(t_deliveries).where(
                t_deliveries.c.endpoint_id == endpoint_id, t_deliveries.c.state == "pending",
            ).values(state="failed", last_error="endpoint deleted"))

    def disable(self, endpoint_id: str, reason: str) -> None:
        """Stop delivering to an endpoint (e.g. it answered 410 Gone)."""
        with self._engine.begin() as conn:
            conn.execute(update(t_endpoints).where(t_endpoints.c.id == endpoint_id).values(
                enabled=False, disabled_reason=reason))
            conn.execute(update(t_deliveries).where(
                t_deliveries.c.endpoint_id == endpoint_id, t_deliveries.c.state == "pending",
            ).values(state="failed", last_error=f"endpoint disabled: {reason}"))

    def subscribers(self, conn: Connection, event_type: str) -> list[str]:
        """Ids of enabled endpoints whose filter takes ``event_type``."""
        rows = conn.execute(select(t_endpoints.c.id, t_endpoints.c.events).where(
            t_endpoints.c.enabled.is_(True)))
        return [eid for eid, events in rows if wants(json.loads(events), event_type)]


def public(row: Any) -> dict[str, Any]:
    """An endpoint as the API lists it (no secret)."""
    out = {k: v for k, v in dict(row).items() if k != "secret"}
    out["events"] = json.loads(out["events"])
    return out
