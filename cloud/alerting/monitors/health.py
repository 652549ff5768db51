"""The pipeline health report: every check's section plus the findings for ``pipeline`` rules."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from cloud.alerting.core.clock import Clock
from cloud.alerting.core.db import Database
from cloud.alerting.monitors.base import Finding, HealthCheck


class PipelineHealth:
    """Runs the checks on one connection; :meth:`report` is ``GET /v1/pipeline/health``."""

    def __init__(self, engine: Database, clock: Clock, checks: Sequence[HealthCheck]) -> None:
        self._engine = engine
        self._clock = clock
        self._checks = list(checks)
        #: Run before the checks read the tables (the recorder's flush of merged statistics).
        self.before_read: Callable[[], None] = _nothing

    def run(self, now_ms: int | None = None) -> tuple[dict[str, Any], list[Finding]]:
        """The report and every finding."""
        now = self._clock.now_ms() if now_ms is None else now_ms
        report: dict[str, Any] = {"now_ms": now}
        self.before_read()
        findings: list[Finding] = []
        with self._engine.connect() as conn:
            for check in self._checks:
                section, found = check.run(conn, now)
                report[check.name] = section
                findings.extend(found)
        report["problems"] = [{"check": f.check, "device": f.series.device,
                               "sensor": f.series.sensor, "detail": f.detail} for f in findings]
        report["status"] = "ok" if not findings else "degraded"
        return report, findings

    def report(self) -> dict[str, Any]:
        """The report alone."""
        return self.run()[0]


def _nothing() -> None:
    return None
