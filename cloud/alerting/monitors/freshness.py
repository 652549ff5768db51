"""Freshness per device: last arrival against now, newest device time, and the ingest lag.

Staleness is judged on the newest device timestamp capped by the cloud's arrival time (when a
reading was last stored): a device whose clock runs ahead cannot hide from the check, and a
backlog of old readings still shows as old data.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from cloud.alerting.core.series import SeriesRef
from cloud.alerting.monitors.base import Finding
from cloud.alerting.monitors.tables import stream_stats


class FreshnessCheck:
    """Devices whose newest data (capped by arrival time) is older than ``stale_after_s``."""

    name = "freshness"

    def __init__(self, stale_after_s: float) -> None:
        self._stale_ms = round(stale_after_s * 1000)

    def run(self, conn: Connection, now_ms: int) -> tuple[dict[str, Any], list[Finding]]:
        """Per device: last device time, seconds since, last ingest lag, stale or not."""
        devices: dict[str, dict[str, Any]] = {}
        for row in conn.execute(select(stream_stats)):
            d = devices.get(row.device)
            if d is None:
                d = devices[row.device] = {"device": row.device, "site": row.site,
                                           "last_ts_ms": row.last_ts_ms,
                                           "last_ingest_ms": row.last_ingest_ms,
                                           "ingest_lag_s": row.last_lag_ms / 1000}
            if row.last_ts_ms > d["last_ts_ms"]:
                d.update(last_ts_ms=row.last_ts_ms, ingest_lag_s=row.last_lag_ms / 1000)
            d["last_ingest_ms"] = max(d["last_ingest_ms"], row.last_ingest_ms)
        findings = []
        for d in devices.values():
            heard = min(d["last_ts_ms"], d["last_ingest_ms"])
            d["age_s"] = (now_ms - heard) / 1000
            d["stale"] = now_ms - heard > self._stale_ms
            if d["stale"]:
                findings.append(Finding("stale", SeriesRef(d["device"], "", d["site"]),
                                        f"no data from {d['device']} for {d['age_s']:.0f} s"))
        section = {"stale_after_s": self._stale_ms / 1000,
                   "devices": sorted(devices.values(), key=lambda x: x["device"])}
        return section, findings
