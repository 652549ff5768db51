"""``/v1/silences``: matchers with a time range that suppress notifications."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel

from cloud.alerting.alerts.silences import Matcher, SilenceIn
from cloud.api.alerting_errors import Id
from cloud.api.auth import AuthFirstRoute, RequireScope
from cloud.api.deps import SilencesDep
from cloud.meta import Scope

router = APIRouter(prefix="/v1/silences", tags=["alerts"],
                   route_class=AuthFirstRoute)
READ, WRITE = RequireScope(Scope.READ), RequireScope(Scope.ALERTS_WRITE)


class SilenceOut(BaseModel):
    """A stored silence (times in UTC ms)."""

    id: str
    starts_ms: int
    ends_ms: int
    comment: str
    created_by: str
    created_ms: int
    matcher: Matcher


@router.post("", status_code=201, dependencies=[WRITE])
def create_silence(body: SilenceIn, silences: SilencesDep) -> SilenceOut:
    """Silence matching alerts from `starts_ms` (default now) until `ends_ms`."""
    return _out(silences.create(body))


@router.get("", dependencies=[READ])
def list_silences(silences: SilencesDep) -> list[SilenceOut]:
    """Every silence, newest first."""
    return [_out(s) for s in silences.all()]


@router.delete("/{silence_id}", status_code=204, response_class=Response,
                dependencies=[WRITE])
def delete_silence(silence_id: Id, silences: SilencesDep) -> None:
    """End a silence now."""
    silences.delete(silence_id)


def _out(row: dict[str, Any]) -> SilenceOut:
    return SilenceOut.model_validate(row)
