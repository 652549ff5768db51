"""Volume anomalies: readings per device in the last complete bucket against a rolling
baseline (the median of the buckets before it; buckets with nothing count as zero)."""

from __future__ import annotations

from typing import Any

import numpy as np
from sqlalchemy import Connection, select

from cloud.alerting.core.series import SeriesRef
from cloud.alerting.monitors.base import Finding
from cloud.alerting.monitors.tables import stream_stats, volume_buckets

#: A baseline below this many readings per bucket is too thin to judge drops and surges.
MIN_BASELINE = 5.0


class VolumeCheck:
    """Drops (below baseline x ``drop_ratio``) and surges (above baseline x ``surge_ratio``)."""

    name = "volume"

    def __init__(self, bucket_s: int, baseline_buckets: int, drop_ratio: float,
                 surge_ratio: float) -> None:
        self._bucket_ms = bucket_s * 1000
        self._n = baseline_buckets
        self._drop = drop_ratio
        self._surge = surge_ratio

    def run(self, conn: Connection, now_ms: int) -> tuple[dict[str, Any], list[Finding]]:
        """Per device: the last complete bucket, the baseline and the verdict."""
        current = now_ms - now_ms % self._bucket_ms - self._bucket_ms
        first = current - self._n * self._bucket_ms
        counts: dict[str, dict[int, int]] = {}
        for device, bucket, readings in conn.execute(
            select(volume_buckets.c.device, volume_buckets.c.bucket_ms,
                   volume_buckets.c.readings).where(volume_buckets.c.bucket_ms >= first,
                                                    volume_buckets.c.bucket_ms <= current)):
            counts.setdefault(device, {})[bucket] = readings
        seen = {row.device: (row.first_seen_ms, row.site) for row in conn.execute(
            select(stream_stats.c.device, stream_stats.c.first_seen_ms, stream_stats.c.site))}
        devices, findings = [], []
        for device, (first_seen, site) in sorted(seen.items()):
            entry, finding = self._judge(device, site, counts.get(device, {}), current,
                                         first_seen)
            devices.append(entry)
            if finding is not None:
                findings.append(finding)
        return {"bucket_s": self._bucket_ms / 1000, "devices": devices}, findings

    def _judge(self, device: str, site: str | None, counts: dict[int, int], current: int,
               first_seen: int) -> tuple[dict[str, Any], Finding | None]:
        history = [counts.get(current - k * self._bucket_ms, 0) for k in range(1, self._n + 1)
                   if current - k * self._bucket_ms >= first_seen - self._bucket_ms]
        now_count = counts.get(current, 0)
        entry: dict[str, Any] = {"device": device, "bucket_ms": current, "readings": now_count,
                                 "baseline": None, "verdict": "learning"}
        if len(history) < 3:
            return entry, None
        baseline = float(np.median(history))
        entry["baseline"] = baseline
        entry["verdict"] = "ok"
        if baseline < MIN_BASELINE:
            return entry, None
        ref = SeriesRef(device, "", site)
        if now_count < baseline * self._drop:
            entry["verdict"] = "drop"
            return entry, Finding("volume_drop", ref,
                                  f"{device}: {now_count} readings vs baseline {baseline:.0f}")
        if now_count > baseline * self._surge:
            entry["verdict"] = "surge"
            return entry, Finding("volume_surge", ref,
                                  f"{device}: {now_count} readings vs baseline {baseline:.0f}")
        return entry, None
