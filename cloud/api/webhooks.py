"""``/v1/webhooks``: endpoints, their deliveries, and manual redelivery."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Response

from cloud.api.alerting_errors import Id, call
from cloud.webhooks.endpoints import EndpointStore, WebhookIn
from cloud.webhooks.outbox import Outbox


def router(endpoints: EndpointStore, outbox: Outbox) -> APIRouter:
    """The webhooks resource."""
    api = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])

    @api.post("", status_code=201)
    def create_webhook(body: WebhookIn) -> dict[str, Any]:
        """Register an endpoint. The answer holds its signing `secret` (`whsec_...`): it is
        shown this once. Targets on loopback or private networks are refused unless allowed."""
        return call(lambda: endpoints.create(body))

    @api.get("")
    def list_webhooks() -> list[dict[str, Any]]:
        """Every endpoint (without secrets)."""
        return endpoints.all()

    @api.get("/{webhook_id}")
    def get_webhook(webhook_id: Id) -> dict[str, Any]:
        """One endpoint (without its secret)."""
        return call(lambda: endpoints.get(webhook_id))

    @api.delete("/{webhook_id}", status_code=204)
    def delete_webhook(webhook_id: Id) -> Response:
        """Remove an endpoint; its pending deliveries are dropped with a reason."""
        call(lambda: endpoints.delete(webhook_id))
        return Response(status_code=204)

    @api.get("/{webhook_id}/deliveries")
    def list_deliveries(
        webhook_id: Id, limit: int = Query(100, ge=1, le=1000)
    ) -> list[dict[str, Any]]:
        """Deliveries to the endpoint, newest first, each with its attempts."""
        return call(lambda: outbox.deliveries(webhook_id, limit))

    @api.post("/{webhook_id}/deliveries/{delivery_id}/redeliver", status_code=202)
    def redeliver(webhook_id: Id, delivery_id: Id) -> dict[str, Any]:
        """Send a delivery again (same `webhook-id`, same body, a fresh retry budget)."""
        return call(lambda: outbox.redeliver(webhook_id, delivery_id))

    return api
