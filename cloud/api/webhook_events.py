"""The webhook payloads in the OpenAPI document (OpenAPI 3.1 ``webhooks``): one entry per event
type the cloud sends, with its body schema and the Standard Webhooks headers.

Documentation only: these operations are requests the cloud makes to subscribers, not routes
it serves. Every event is ``{"type", "timestamp", "data"}`` with the alert as ``data``.
"""

# No ``from __future__ import annotations``: FastAPI reads the handler's annotations, which
# name a model chosen at run time.
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Header
from pydantic import BaseModel, Field, create_model

from cloud.api.alerts import AlertOut

_HEADERS = {
    "webhook_id": "Stable id of the delivery (the same on every retry): deduplicate on it.",
    "webhook_timestamp": "Unix seconds of this attempt; refuse it when far from now (replay).",
    "webhook_signature": "`v1,<base64 HMAC-SHA256 of \"id.timestamp.body\">` keyed with the "
                         "base64-decoded part of the endpoint's `whsec_` secret; several "
                         "space-separated signatures during a secret rotation.",
}


def _event(event_type: str, doc: str) -> type[BaseModel]:
    name = "".join(p.capitalize() for p in event_type.replace(".", "_").split("_")) + "Event"
    fields: Any = {
        "type": (Literal[event_type], Field(description="The event type.")),
        "timestamp": (str, Field(description="When the event happened, ISO 8601 UTC.")),
        "data": (AlertOut, Field(description="The alert, as `GET /v1/alerts/{id}` shows it.")),
    }
    model: type[BaseModel] = create_model(name, __doc__=doc, **fields)
    return model


AlertFiringEvent = _event("alert.firing", "An alert started firing (or a silence over it ended).")
AlertResolvedEvent = _event("alert.resolved", "A firing alert's condition cleared.")
AlertAcknowledgedEvent = _event("alert.acknowledged", "Someone acknowledged an alert.")

#: The event types and their payload models, in the order the docs list them.
EVENTS: dict[str, type[BaseModel]] = {
    "alert.firing": AlertFiringEvent,
    "alert.resolved": AlertResolvedEvent,
    "alert.acknowledged": AlertAcknowledgedEvent,
}

_RESPONSES: dict[int | str, dict[str, Any]] = {
    "2XX": {"description": "Delivered; any other answer (or none) is retried."}}


def add_webhook_docs(app: FastAPI) -> None:
    """Declare every event type under the OpenAPI document's ``webhooks``."""
    for event_type, model in EVENTS.items():
        _declare(app, event_type, model)


def _declare(app: FastAPI, event_type: str, model: type[BaseModel]) -> None:
    def receive(  # pragma: no cover - documentation only, never called
        body: model,  # type: ignore[valid-type]
        webhook_id: Annotated[str, Header(description=_HEADERS["webhook_id"])],
        webhook_timestamp: Annotated[str, Header(description=_HEADERS["webhook_timestamp"])],
        webhook_signature: Annotated[str, Header(description=_HEADERS["webhook_signature"])],
    ) -> None:
        """Sent to every enabled endpoint subscribed to this event type."""

    app.webhooks.post(event_type, summary=model.__doc__, responses=_RESPONSES,
                      tags=["webhooks"])(receive)
