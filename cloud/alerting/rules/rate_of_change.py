"""Rate-of-change rule: a series rising or falling faster than allowed over a window.

The rate is the least-squares slope over the window (robust to single noisy readings, unlike
last-minus-first), expressed per ``per_s`` seconds. Evaluated on the schedule.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Literal

import numpy as np
from pydantic import Field, model_validator

from cloud.alerting.rules.base import EvalContext, Observation, RuleBase, StreamInfo
from cloud.validation import FiniteFloat


def slope_per_ms(ts: np.ndarray, values: np.ndarray) -> float:
    """Least-squares slope of ``values`` over ``ts`` (per millisecond).

    >>> slope_per_ms(np.array([0, 1000, 2000]), np.array([1.0, 2.0, 3.0])) * 1000
    1.0
    """
    t = ts.astype(np.float64) - float(ts[0])
    t -= t.mean()
    denom = float(np.dot(t, t))
    if denom == 0.0:
        return 0.0
    return float(np.dot(t, values - values.mean()) / denom)


class RateOfChangeRule(RuleBase):
    """Fires when the slope over ``window_s`` exceeds ``max_rise`` or falls below ``-max_fall``."""

    default_message: ClassVar[str] = (
        "{sensor} on {device} changes {rate:+.3g} {unit} per {per_label} (allowed {allowed})"
    )

    kind: Literal["rate_of_change"] = "rate_of_change"
    window_s: float = Field(default=300.0, gt=0, le=7 * 86400)
    per_s: float = Field(
        default=60.0, gt=0, description="The rate is expressed per this many seconds.")
    max_rise: FiniteFloat | None = Field(default=None, gt=0)
    max_fall: FiniteFloat | None = Field(default=None, gt=0)
    min_points: int = Field(default=3, ge=2)

    @model_validator(mode="after")
    def _check(self) -> RateOfChangeRule:
        if self.max_rise is None and self.max_fall is None:
            raise ValueError("rate_of_change needs max_rise, max_fall or both")
        return self

    def evaluate(
        self, ctx: EvalContext, streams: Sequence[StreamInfo], now_ms: int
    ) -> list[Observation]:
        """One observation per stream with enough points in the window."""
        out = []
        start = now_ms - round(self.window_s * 1000)
        for stream in streams:
            ts, values = ctx.window(stream.device, stream.sensor, start, now_ms)
            if len(ts) < self.min_points:
                continue
            rate = slope_per_ms(ts, values) * self.per_s * 1000
            rising = self.max_rise is not None and rate > self.max_rise
            falling = self.max_fall is not None and rate < -self.max_fall
            allowed = f"+{self.max_rise}" if rising else f"-{self.max_fall}"
            out.append(
                Observation(
                    self.series_for(stream), now_ms, rising or falling, float(values[-1]),
                    {"rate": rate, "per_label": _per_label(self.per_s), "allowed": allowed,
                     "unit": stream.unit or ""},
                )
            )
        return out


def _per_label(seconds: float) -> str:
    for size, label in ((3600.0, "h"), (60.0, "min"), (1.0, "s")):
        if seconds == size:
            return label
    return f"{seconds:g} s"
