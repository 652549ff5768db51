"""``/healthz`` (the process answers), ``/readyz`` (store and metadata reachable), ``/metrics``.

``/healthz`` is open; ``/readyz`` and ``/metrics`` follow ``auth.probes`` (open to loopback
clients by default, a ``read`` token otherwise).
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from cloud.api.auth import ProbeAccess
from cloud.api.deps import MetricsDep, ServicesDep
from cloud.errors import CloudError
from cloud.redact import first_line
from cloud.services import CREATE_ADMIN

router = APIRouter(tags=["health"])


class ReadyOut(BaseModel):
    """Whether the store and the metadata database answer; ``checks`` says ``ok`` or why not."""

    ready: bool
    checks: dict[str, str]
    #: What needs the operator's attention but does not stop serving, e.g. ``admin_token``
    #: when no admin token exists yet (with the command that creates one).
    warnings: dict[str, str] = {}


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """Liveness: the process serves requests."""
    return {"status": "ok"}


@router.get("/readyz", dependencies=[ProbeAccess], responses={
    200: {"model": ReadyOut},
    503: {"model": ReadyOut, "description": "The store or metadata is unreachable."}})
def readyz(s: ServicesDep) -> JSONResponse:
    """Readiness: the time-series store and the metadata database answer."""
    checks: dict[str, str] = {}
    try:
        s.store.ping()
        checks["store"] = "ok"
    except CloudError as exc:
        checks["store"] = first_line(exc)
    try:
        with s.meta.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["metadata"] = "ok"
    except (SQLAlchemyError, CloudError) as exc:
        checks["metadata"] = first_line(exc)
    ready = all(v == "ok" for v in checks.values())
    warnings: dict[str, str] = {}
    if checks["metadata"] == "ok" and s.admin_token_missing():
        warnings["admin_token"] = f"no admin token yet: create one with `{CREATE_ADMIN}`"
    return JSONResponse({"ready": ready, "checks": checks, "warnings": warnings},
                        status_code=200 if ready else 503,
                        headers=None if ready else {"Retry-After": "5"})


@router.get("/metrics", response_class=PlainTextResponse, dependencies=[ProbeAccess])
def metrics(m: MetricsDep) -> Response:
    """Prometheus text format: ingest, rejections by reason, store and query latency, alerting
    and webhooks, ``process_*``; summed over all workers (see docs/metrics.md)."""
    return Response(m.render(), media_type=CONTENT_TYPE_LATEST)
