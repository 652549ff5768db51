"""Anomaly-rate rule: too many edge anomaly events (from the gateway's detectors) per window.

Evaluated as anomaly events arrive (to fire quickly) and on the schedule (to resolve once the
window no longer holds enough events).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Literal

from pydantic import Field

from cloud.alerting.rules.base import EvalContext, Observation, RuleBase, StreamInfo


class AnomalyRateRule(RuleBase):
    """Fires when a stream had at least ``min_events`` anomaly events in the last ``window_s``."""

    mode: ClassVar[str] = "arrival"
    default_message: ClassVar[str] = (
        "{count} anomalies on {device}/{sensor} in the last {window_min:.0f} min"
    )

    kind: Literal["anomaly_rate"] = "anomaly_rate"
    window_s: float = Field(default=600.0, gt=0, le=7 * 86400)
    min_events: int = Field(default=3, ge=1)

    def evaluate(
        self, ctx: EvalContext, streams: Sequence[StreamInfo], now_ms: int
    ) -> list[Observation]:
        """Count each stream's events over the window ending at ``now_ms``."""
        start = now_ms - round(self.window_s * 1000)
        out = []
        for stream in streams:
            count = ctx.anomaly_events(stream.device, stream.sensor, start, now_ms + 1)
            out.append(
                Observation(
                    self.series_for(stream), now_ms, count >= self.min_events, float(count),
                    {"count": count, "window_min": self.window_s / 60},
                )
            )
        return out
