"""``/v1/alerts``: list and read alerts, acknowledge them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from cloud.api.alerting_errors import AlertId
from cloud.api.auth import AuthFirstRoute, RequireScope
from cloud.api.deps import AlertsDep
from cloud.meta import Scope
from cloud.validation import REQUEST_CONFIG, FreeText, OptionalName

router = APIRouter(prefix="/v1/alerts", tags=["alerts"],
                   route_class=AuthFirstRoute)
READ, WRITE = RequireScope(Scope.READ), RequireScope(Scope.ALERTS_WRITE)


class AckIn(BaseModel):
    """Who acknowledges."""

    model_config = REQUEST_CONFIG

    by: FreeText = Field(default="", max_length=200)


class AlertOut(BaseModel):
    """One alert: its rule, series, state and lifecycle times (UTC ms)."""

    id: int
    rule_id: str
    rule_name: str
    kind: str
    severity: str
    site: str | None
    device: str
    sensor: str
    state: Literal["pending", "firing", "resolved"]
    started_ms: int
    fired_ms: int | None
    resolved_ms: int | None
    updated_ms: int
    value: float | None
    message: str
    acked_ms: int | None
    acked_by: str | None
    silenced: bool
    notified: bool


@router.get("", dependencies=[READ])
def list_alerts(
    alerts: AlertsDep,
    state: Literal["pending", "firing", "resolved"] | None = None,
    severity: Literal["info", "warning", "critical"] | None = None,
    device: Annotated[OptionalName, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[AlertOut]:
    """Alerts, newest first, filtered by state, severity and device."""
    return _out_all(alerts.find(state, severity, device, limit))


@router.get("/{alert_id}", dependencies=[READ])
def get_alert(alert_id: AlertId, alerts: AlertsDep) -> AlertOut:
    """One alert."""
    return AlertOut.model_validate(alerts.get(alert_id))


@router.post("/{alert_id}/ack", dependencies=[WRITE])
def ack_alert(alert_id: AlertId, alerts: AlertsDep, body: AckIn | None = None) -> AlertOut:
    """Acknowledge an alert (the first acknowledgement is kept)."""
    return AlertOut.model_validate(alerts.ack(alert_id, body.by if body else ""))


def _out_all(rows: list[dict[str, Any]]) -> list[AlertOut]:
    return [AlertOut.model_validate(r) for r in rows]
