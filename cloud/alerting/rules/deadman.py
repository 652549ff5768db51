"""Deadman (no data) rule: a device or a stream that has not reported for ``after_s``.

Evaluated on the schedule, from the ingest path's stream registry, so it needs no query
against the time-series store. Silence is measured from the newest device timestamp capped by
the cloud's arrival time (:attr:`StreamInfo.heard_ms`): one device whose clock runs a year
ahead would otherwise never look silent.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Literal

from pydantic import Field

from cloud.alerting.rules.base import EvalContext, Observation, RuleBase, SeriesRef, StreamInfo


class DeadmanRule(RuleBase):
    """Fires when the newest reading of a device (``per="device"``) or stream is too old."""

    default_message: ClassVar[str] = "no data from {device}{sensor_suffix} for {silent_min:.0f} min"

    kind: Literal["deadman"] = "deadman"
    after_s: float = Field(default=300.0, gt=0, le=30 * 86400)
    per: Literal["device", "stream"] = "device"

    def series_for(self, stream: StreamInfo) -> SeriesRef:
        """Per device the sensor part of the series is empty."""
        sensor = "" if self.per == "device" else stream.sensor
        return SeriesRef(stream.device, sensor, stream.site)

    def evaluate(
        self, ctx: EvalContext, streams: Sequence[StreamInfo], now_ms: int
    ) -> list[Observation]:
        """Last arrival per series against ``now_ms``."""
        newest: dict[SeriesRef, int] = {}
        for stream in streams:
            ref = self.series_for(stream)
            newest[ref] = max(newest.get(ref, stream.heard_ms), stream.heard_ms)
        limit = round(self.after_s * 1000)
        out = []
        for ref, last in newest.items():
            silent = now_ms - last
            out.append(
                Observation(
                    ref, now_ms, silent > limit, None,
                    {"silent_min": silent / 60_000, "last_ts_ms": last,
                     "sensor_suffix": f"/{ref.sensor}" if ref.sensor else ""},
                )
            )
        return out
