"""What every pipeline-health check shares: its findings feed ``pipeline`` rules."""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol

from sqlalchemy import Connection

from cloud.alerting.core.series import SeriesRef


class Finding(NamedTuple):
    """One problem a check found: ``check`` names it (``stale``, ``volume_drop``, ...)."""

    check: str
    series: SeriesRef
    detail: str


class HealthCheck(Protocol):
    """One pipeline-health check: a report section and the findings in it."""

    name: str

    def run(self, conn: Connection, now_ms: int) -> tuple[dict[str, Any], list[Finding]]:
        """The section for ``GET /v1/pipeline/health`` and the problems found."""
        ...
