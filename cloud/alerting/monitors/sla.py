"""SLA tracking: the share of readings queryable within N seconds of their device time, and
ingest availability (the share of ingest requests not answered with an error)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select

from cloud.alerting.core.series import SeriesRef
from cloud.alerting.monitors.base import Finding
from cloud.alerting.monitors.tables import sla_buckets


class SlaCheck:
    """Over the last ``window_s``: on-time share and availability against ``target``."""

    name = "sla"

    def __init__(self, queryable_s: float, target: float, window_s: float) -> None:
        self._queryable_s = queryable_s
        self._target = target
        self._window_ms = round(window_s * 1000)

    def run(self, conn: Connection, now_ms: int) -> tuple[dict[str, Any], list[Finding]]:
        """Shares over the window; a finding for each share below the target."""
        c = sla_buckets.c
        readings, on_time, ok, failed = conn.execute(select(
            func.coalesce(func.sum(c.readings), 0), func.coalesce(func.sum(c.on_time), 0),
            func.coalesce(func.sum(c.requests_ok), 0),
            func.coalesce(func.sum(c.requests_failed), 0),
        ).where(c.bucket_ms >= now_ms - self._window_ms)).one()
        on_time_share = on_time / readings if readings else None
        availability = ok / (ok + failed) if ok + failed else None
        section = {"queryable_within_s": self._queryable_s, "target": self._target,
                   "window_s": self._window_ms / 1000, "readings": int(readings),
                   "on_time_share": on_time_share, "requests_ok": int(ok),
                   "requests_failed": int(failed), "availability": availability}
        findings = []
        pipeline = SeriesRef("pipeline", "")
        if on_time_share is not None and on_time_share < self._target:
            findings.append(Finding("sla", SeriesRef("pipeline", "on_time"),
                                    f"{on_time_share:.1%} of readings on time "
                                    f"(target {self._target:.1%})"))
        if availability is not None and availability < self._target:
            findings.append(Finding("sla", SeriesRef(pipeline.device, "availability"),
                                    f"ingest availability {availability:.1%} "
                                    f"(target {self._target:.1%})"))
        section["ok"] = not findings
        return section, findings
