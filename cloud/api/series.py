"""``/v1/series``, ``/v1/trends`` and ``/v1/anomalies``: trend queries over the store."""

from __future__ import annotations

import csv
import io
import math
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict

from cloud.api.auth import AuthFirstRoute, RequireScope
from cloud.api.deps import QueriesDep
from cloud.errors import QueryError
from cloud.meta import Scope
from cloud.models import AnomalyOut
from cloud.query import iso
from cloud.validation import OptionalName

router = APIRouter(tags=["queries"], dependencies=[RequireScope(Scope.READ)],
                   route_class=AuthFirstRoute)
Text = Annotated[str | None, Query(max_length=100)]
Name = Annotated[OptionalName, Query(max_length=64)]
_BAD: dict[int | str, dict[str, Any]] = {
    400: {"description": "A parameter is invalid (the message names it)."},
    503: {"description": "The store is unavailable; see Retry-After."},
}


class SeriesOut(BaseModel):
    """Columnar aggregates: the query's shape, bucket starts ``t`` (UTC ms) and one list per
    aggregate named in ``aggregates`` (e.g. ``"mean": [...]``)."""

    model_config = ConfigDict(extra="allow", json_schema_extra={
        "additionalProperties": {"type": "array", "items": {"anyOf": [
            {"type": "number"}, {"type": "null"}]}}})

    device: str
    sensor: str
    start: int
    end: int
    every: int
    every_auto: bool
    aggregates: list[str]
    t: list[int]


class TrendOut(BaseModel):
    """Level, slope per hour and, with a threshold, the projected crossing."""

    device: str
    sensor: str
    start: int
    end: int
    every: int
    points: int
    level: float | None
    slope_per_hour: float | None
    threshold: float | None
    crossing_ts: int | None
    crossing_in_hours: float | None
    already_beyond: bool | None


_SERIES_OK: dict[int | str, dict[str, Any]] = {200: {"model": SeriesOut, "content": {
    "text/csv": {"schema": {"type": "string", "description": "time,t,<aggregates...>"}}}}}


def _csv(data: dict[str, Any]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    aggs = data["aggregates"]
    w.writerow(["time", "t", *aggs])
    for i, t in enumerate(data["t"]):
        w.writerow([iso(t), t, *(data[a][i] for a in aggs)])
    return buf.getvalue()


@router.get("/v1/series", responses={**_BAD, **_SERIES_OK})
def series(
    q: QueriesDep,
    device: Name = None,
    sensor: Name = None,
    start: Annotated[str | None, Query(description="ms, ISO 8601, now, -1h (default: end-24h)")]
    = None,
    end: Annotated[str | None, Query(description="ms, ISO 8601, now, -1h (default: now)")] = None,
    every: Annotated[str | None, Query(description="bucket width, e.g. 1m (default: auto)")]
    = None,
    agg: Annotated[str | None, Query(description="comma-separated: mean,min,max,count,last,p95")]
    = None,
    format: Annotated[str | None, Query(description="json (default) or csv")] = None,
) -> Response:
    """Aggregates per time bucket, columnar: ``{"t": [...], "mean": [...], ...}``.

    ``t`` holds bucket starts (UTC ms, aligned to the epoch); empty buckets are left out.
    Without ``every`` the shortest readable width keeping the response within the point budget
    (``limits.series_point_budget``, default 2000 buckets) is chosen.
    """
    fmt = (format or "json").lower()
    if fmt not in ("json", "csv"):
        raise QueryError(f"`format` must be json or csv, not {format!r}")
    data = q.series(device, sensor, start, end, every, agg)
    if fmt == "csv":
        return PlainTextResponse(_csv(data), media_type="text/csv")
    return JSONResponse(data)


@router.get("/v1/trends", response_model=TrendOut, responses=_BAD)
def trends(
    q: QueriesDep,
    device: Name = None,
    sensor: Name = None,
    window: Annotated[str | None, Query(description="how far back, e.g. 6h (default 24h)")]
    = None,
    threshold: Annotated[str | None, Query(description="a value to project the crossing of")]
    = None,
) -> dict[str, Any]:
    """Level, robust slope per hour (Theil-Sen) and, with ``threshold``, the projected crossing.

    ``level`` is the fitted value at the newest bucket; ``crossing_ts`` (UTC ms) is when the
    fitted line reaches ``threshold`` if it is heading there; ``already_beyond`` tells when the
    level has passed the threshold and is moving away from it.
    """
    thr: float | None = None
    if threshold is not None and threshold.strip():
        try:
            thr = float(threshold)
        except ValueError:
            raise QueryError(f"`threshold` must be a number, not {threshold!r}") from None
        if not math.isfinite(thr):
            raise QueryError("`threshold` must be a finite number")
    return q.trend(device, sensor, window, thr)


@router.get("/v1/anomalies", response_model=list[AnomalyOut], responses=_BAD)
def anomalies(
    q: QueriesDep,
    device: Name = None,
    sensor: Name = None,
    start: Text = None,
    end: Text = None,
    limit: Annotated[int | None, Query(description="most entries (default: the limit)")] = None,
) -> list[dict[str, Any]]:
    """Anomalies the gateways reported, oldest first; ``device``/``sensor`` filter when given."""
    return q.anomalies(device, sensor, start, end, limit)
