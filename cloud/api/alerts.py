"""``/v1/alerts``: list and read alerts, acknowledge them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from cloud.alerts.lifecycle import AlertManager
from cloud.api.alerting_errors import AlertId, Text, call


class AckIn(BaseModel):
    """Who acknowledges."""

    model_config = ConfigDict(extra="forbid")

    by: str = Field(default="", max_length=200)


def router(alerts: AlertManager) -> APIRouter:
    """The alerts resource over ``alerts``."""
    api = APIRouter(prefix="/v1/alerts", tags=["alerts"])

    @api.get("")
    def list_alerts(
        state: Literal["pending", "firing", "resolved"] | None = None,
        severity: Literal["info", "warning", "critical"] | None = None,
        device: Annotated[Text | None, Query(max_length=64)] = None,
        limit: Annotated[int, Query(ge=1, le=5000)] = 500,
    ) -> list[dict[str, Any]]:
        """Alerts, newest first, filtered by state, severity and device."""
        return alerts.find(state, severity, device, limit)

    @api.get("/{alert_id}")
    def get_alert(alert_id: AlertId) -> dict[str, Any]:
        """One alert."""
        return call(lambda: alerts.get(alert_id))

    @api.post("/{alert_id}/ack")
    def ack_alert(alert_id: AlertId, body: AckIn | None = None) -> dict[str, Any]:
        """Acknowledge an alert (the first acknowledgement is kept)."""
        return call(lambda: alerts.ack(alert_id, body.by if body else ""))

    return api
