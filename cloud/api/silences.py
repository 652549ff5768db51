"""``/v1/silences``: matchers with a time range that suppress notifications."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from cloud.alerts.silences import SilenceIn, SilenceStore
from cloud.api.alerting_errors import Id, call


def router(silences: SilenceStore) -> APIRouter:
    """The silences resource over ``silences``."""
    api = APIRouter(prefix="/v1/silences", tags=["alerts"])

    @api.post("", status_code=201)
    def create_silence(body: SilenceIn) -> dict[str, Any]:
        """Silence matching alerts from `starts_ms` (default now) until `ends_ms`."""
        return call(lambda: silences.create(body))

    @api.get("")
    def list_silences() -> list[dict[str, Any]]:
        """Every silence, newest first."""
        return silences.all()

    @api.delete("/{silence_id}", status_code=204)
    def delete_silence(silence_id: Id) -> Response:
        """End a silence now."""
        call(lambda: silences.delete(silence_id))
        return Response(status_code=204)

    return api
