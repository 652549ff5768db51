"""Schema changes per device: new sensors, changed units or value types (recorded on ingest)
and vanished sensors (silent while their device still reports)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, select

from cloud.alerting.core.series import SeriesRef
from cloud.alerting.monitors.base import Finding
from cloud.alerting.monitors.tables import schema_changes, stream_stats


class SchemaCheck:
    """Changes within ``window_s`` and sensors silent for ``vanished_after_s``."""

    name = "schema"

    def __init__(self, vanished_after_s: float, window_s: float) -> None:
        self._vanished_ms = round(vanished_after_s * 1000)
        self._window_ms = round(window_s * 1000)

    def run(self, conn: Connection, now_ms: int) -> tuple[dict[str, Any], list[Finding]]:
        """Recent changes (a device's first sensors are not a change) and vanished sensors."""
        streams = [dict(r._mapping) for r in conn.execute(select(stream_stats))]
        newest: dict[str, int] = {}
        first_seen: dict[str, int] = {}
        for s in streams:
            newest[s["device"]] = max(newest.get(s["device"], 0), s["last_ts_ms"])
            first_seen[s["device"]] = min(first_seen.get(s["device"], now_ms), s["first_seen_ms"])
        sites = {(s["device"], s["sensor"]): s["site"] for s in streams}
        changes, findings = [], []
        for row in conn.execute(select(schema_changes).where(
                schema_changes.c.at_ms >= now_ms - self._window_ms).order_by(schema_changes.c.id)):
            if row.change == "new_sensor" and row.at_ms == first_seen.get(row.device):
                continue
            entry = {"device": row.device, "sensor": row.sensor, "change": row.change,
                     "detail": json.loads(row.detail), "at_ms": row.at_ms}
            changes.append(entry)
            findings.append(Finding("schema", SeriesRef(row.device, row.sensor,
                                                        sites.get((row.device, row.sensor))),
                                    f"{row.device}/{row.sensor}: {row.change} {row.detail}"))
        vanished = []
        for s in streams:
            if newest[s["device"]] - s["last_ts_ms"] > self._vanished_ms:
                vanished.append({"device": s["device"], "sensor": s["sensor"],
                                 "last_ts_ms": s["last_ts_ms"]})
                findings.append(Finding("schema", SeriesRef(s["device"], s["sensor"], s["site"]),
                                        f"{s['device']}/{s['sensor']}: sensor vanished"))
        return {"changes": changes, "vanished": vanished}, findings
