"""``/v1/pipeline/health``: what the pipeline knows about itself."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from cloud.api.auth import AuthFirstRoute, RequireScope
from cloud.api.deps import PipelineHealthDep
from cloud.meta import Scope

router = APIRouter(prefix="/v1/pipeline", tags=["pipeline"],
                   dependencies=[RequireScope(Scope.READ)],
                   route_class=AuthFirstRoute)


class FreshnessOut(BaseModel):
    """Per device: last reading, last ingest, lag, age and whether it is stale."""

    stale_after_s: float
    devices: list[dict[str, Any]]


class VolumeOut(BaseModel):
    """Per device: readings in the current bucket against the rolling baseline."""

    bucket_s: float
    devices: list[dict[str, Any]]


class SchemaOut(BaseModel):
    """Recent schema changes (new sensor, unit or type) and vanished sensors."""

    changes: list[dict[str, Any]]
    vanished: list[dict[str, Any]]


class SlaOut(BaseModel):
    """Readings queryable within the SLA and ingest availability over the window."""

    queryable_within_s: float
    target: float
    window_s: float
    readings: int
    on_time_share: float | None
    requests_ok: int
    requests_failed: int
    availability: float | None
    ok: bool


class BrokenRuleOut(BaseModel):
    """A stored rule that does not load (skipped by the evaluator) and why."""

    id: str
    name: str
    kind: str
    error: str


class RulesOut(BaseModel):
    """How many stored rules load, and the ones that do not."""

    loaded: int
    broken: list[BrokenRuleOut]


class ProblemOut(BaseModel):
    """One finding of a check (what ``pipeline`` rules alert on)."""

    check: str
    device: str
    sensor: str
    detail: str


class PipelineHealthOut(BaseModel):
    """The pipeline-health report: one section per check, the problems and a status."""

    now_ms: int
    freshness: FreshnessOut
    volume: VolumeOut
    schema_: SchemaOut = Field(alias="schema")
    sla: SlaOut
    rules: RulesOut
    problems: list[ProblemOut]
    status: Literal["ok", "degraded"]


@router.get("/health")
def pipeline_health(health: PipelineHealthDep) -> PipelineHealthOut:
    """Freshness per device, volume drops and surges against a rolling baseline, schema
    changes, SLA tracking (readings queryable within N s, ingest availability), and stored
    rules that do not load."""
    return PipelineHealthOut.model_validate(health.report())
