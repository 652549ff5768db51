"""``/v1/pipeline/health``: what the pipeline knows about itself."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from cloud.monitors.health import PipelineHealth


def router(health: PipelineHealth) -> APIRouter:
    """The pipeline-health resource."""
    api = APIRouter(prefix="/v1/pipeline", tags=["pipeline"])

    @api.get("/health")
    def pipeline_health() -> dict[str, Any]:
        """Freshness per device, volume drops and surges against a rolling baseline, schema
        changes, and SLA tracking (readings queryable within N s, ingest availability)."""
        return health.report()

    return api
