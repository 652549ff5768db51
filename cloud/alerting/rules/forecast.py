"""Forecast (predictive maintenance) rule: a robust trend projects when a limit is crossed.

Over a look-back window the series is reduced to at most ``max_points`` bucket medians, a
Theil-Sen line (median of pairwise slopes, robust to outliers and spikes) is fitted, and the
time the line crosses ``limit`` is projected. The rule fires when that is within ``horizon_s``
("vibration reaches 7.1 mm/s in ~36 h") and resolves once the projection leaves the horizon.
Evaluated on the schedule.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
from pydantic import Field

from cloud.alerting.rules.base import EvalContext, Observation, RuleBase, StreamInfo
from cloud.validation import FiniteFloat


@dataclass(frozen=True, slots=True)
class Trend:
    """A fitted line: ``level`` at ``at_ms`` and ``slope`` per hour."""

    at_ms: int
    level: float
    slope_per_h: float

    def crossing_ms(self, limit: float) -> int | None:
        """When the line reaches ``limit`` (``at_ms`` if it already has), or None if never."""
        gap = limit - self.level
        if gap == 0:
            return self.at_ms
        if self.slope_per_h == 0 or (gap > 0) != (self.slope_per_h > 0):
            return None
        return self.at_ms + round(gap / self.slope_per_h * 3_600_000)


def bucket_medians(ts: np.ndarray, values: np.ndarray, buckets: int) -> tuple[np.ndarray, ...]:
    """Reduce a series to at most ``buckets`` (median time, median value) pairs of equal size
    (the oldest ``len % buckets`` points are left out).

    >>> t, v = bucket_medians(np.arange(10), np.arange(10.0) * 2, 3)
    >>> t.tolist(), v.tolist()
    ([2.0, 5.0, 8.0], [4.0, 10.0, 16.0])
    """
    if len(ts) <= buckets:
        return ts.astype(np.float64), values.astype(np.float64)
    size = len(ts) // buckets
    keep = size * buckets
    t = np.median(ts[-keep:].astype(np.float64).reshape(buckets, size), axis=1)
    v = np.median(values[-keep:].astype(np.float64).reshape(buckets, size), axis=1)
    return t, v


def theil_sen(ts: np.ndarray, values: np.ndarray, at_ms: int) -> Trend:
    """Theil-Sen fit of ``values`` over ``ts`` (ms), evaluated at ``at_ms``.

    >>> t = np.arange(0, 10) * 3_600_000
    >>> y = 2.0 + 0.5 * np.arange(10.0)
    >>> y[3] = 100.0                              # a spike does not move the fit
    >>> trend = theil_sen(t, y, at_ms=int(t[-1]))
    >>> round(trend.slope_per_h, 3), round(trend.level, 3)
    (0.5, 6.5)
    >>> trend.crossing_ms(7.5) == int(t[-1]) + 2 * 3_600_000
    True
    """
    hours = (ts.astype(np.float64) - float(at_ms)) / 3_600_000
    i, j = np.triu_indices(len(hours), k=1)
    dt = hours[j] - hours[i]
    keep = dt != 0
    if not keep.any():
        return Trend(at_ms, float(np.median(values)), 0.0)
    slope = float(np.median((values[j] - values[i])[keep] / dt[keep]))
    level = float(np.median(values - slope * hours))
    return Trend(at_ms, level, slope)


class ForecastRule(RuleBase):
    """Fires when the trend over ``lookback_s`` reaches ``limit`` within ``horizon_s``."""

    default_message: ClassVar[str] = "{sensor} reaches {limit:.3g} {unit} in ~{eta_h:.0f} h"

    kind: Literal["forecast"] = "forecast"
    limit: FiniteFloat
    direction: Literal["above", "below"] = "above"
    lookback_s: float = Field(default=86400.0, gt=0, le=90 * 86400)
    horizon_s: float = Field(default=3 * 86400.0, gt=0, le=365 * 86400)
    min_points: int = Field(default=10, ge=3)
    max_points: int = Field(default=120, ge=10, le=1000)

    def evaluate(
        self, ctx: EvalContext, streams: Sequence[StreamInfo], now_ms: int
    ) -> list[Observation]:
        """Fit each stream's look-back window and project the crossing."""
        out = []
        start = now_ms - round(self.lookback_s * 1000)
        for stream in streams:
            ts, values = ctx.window(stream.device, stream.sensor, start, now_ms)
            if len(ts) < self.min_points:
                continue
            t, v = bucket_medians(ts, values, self.max_points)
            trend = theil_sen(t, v, now_ms)
            eta = self.eta_ms(trend, now_ms)
            fields = {"limit": self.limit, "unit": stream.unit or "", "level": trend.level,
                      "slope_per_h": trend.slope_per_h,
                      "eta_h": None if eta is None else eta / 3_600_000}
            active = eta is not None and eta <= self.horizon_s * 1000
            out.append(Observation(self.series_for(stream), now_ms, active, trend.level, fields))
        return out

    def eta_ms(self, trend: Trend, now_ms: int) -> int | None:
        """Milliseconds from ``now_ms`` until the limit is reached (0 if already past)."""
        past = trend.level >= self.limit if self.direction == "above" else (
            trend.level <= self.limit)
        if past:
            return 0
        crossing = trend.crossing_ms(self.limit)
        return None if crossing is None else max(0, crossing - now_ms)
