"""``/v1/webhooks``: endpoints, their deliveries, and manual redelivery."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from cloud.alerting.webhooks.endpoints import WebhookIn
from cloud.api.alerting_errors import Id
from cloud.api.auth import AuthFirstRoute, RequireScope
from cloud.api.deps import EndpointsDep, OutboxDep
from cloud.meta import Scope

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"],
                   dependencies=[RequireScope(Scope.ADMIN)],
                   route_class=AuthFirstRoute)


class WebhookOut(BaseModel):
    """A registered endpoint (without its secret)."""

    id: str
    url: str
    events: list[str]
    description: str
    enabled: bool
    disabled_reason: str | None
    created_ms: int


class WebhookCreated(WebhookOut):
    """A new endpoint with its signing secret (`whsec_...`), shown this once."""

    secret: str


class AttemptOut(BaseModel):
    """One delivery attempt."""

    at_ms: int
    status: int | None
    error: str | None
    duration_ms: int


class DeliveryOut(BaseModel):
    """One delivery (its `id` is the `webhook-id` header) with its attempts."""

    id: str
    endpoint_id: str
    event_type: str
    payload: dict[str, Any] = Field(description="The body sent: `type`, `timestamp`, `data`.")
    state: str
    attempts: int
    next_attempt_ms: int
    claim_until_ms: int | None
    last_status: int | None
    last_error: str | None
    created_ms: int
    delivered_ms: int | None
    attempt_log: list[AttemptOut]


class RedeliveryOut(BaseModel):
    """A delivery queued again."""

    id: str
    state: str


@router.post("", status_code=201)
def create_webhook(body: WebhookIn, endpoints: EndpointsDep) -> WebhookCreated:
    """Register an endpoint. The answer holds its signing `secret` (`whsec_...`): it is
    shown this once. Targets on loopback or private networks are refused unless allowed."""
    return WebhookCreated.model_validate(endpoints.create(body))


@router.get("")
def list_webhooks(endpoints: EndpointsDep) -> list[WebhookOut]:
    """Every endpoint (without secrets)."""
    return [WebhookOut.model_validate(e) for e in endpoints.all()]


@router.get("/{webhook_id}")
def get_webhook(webhook_id: Id, endpoints: EndpointsDep) -> WebhookOut:
    """One endpoint (without its secret)."""
    return WebhookOut.model_validate(endpoints.get(webhook_id))


@router.delete("/{webhook_id}", status_code=204, response_class=Response)
def delete_webhook(webhook_id: Id, endpoints: EndpointsDep) -> None:
    """Remove an endpoint; its pending deliveries are dropped with a reason."""
    endpoints.delete(webhook_id)


@router.get("/{webhook_id}/deliveries")
def list_deliveries(
    webhook_id: Id, outbox: OutboxDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[DeliveryOut]:
    """Deliveries to the endpoint, newest first, each with its attempts."""
    return [DeliveryOut.model_validate(d) for d in outbox.deliveries(webhook_id, limit)]


@router.post("/{webhook_id}/deliveries/{delivery_id}/redeliver", status_code=202)
def redeliver(webhook_id: Id, delivery_id: Id, outbox: OutboxDep) -> RedeliveryOut:
    """Send a delivery again (same `webhook-id`, same body, a fresh retry budget)."""
    return RedeliveryOut.model_validate(outbox.redeliver(webhook_id, delivery_id))
