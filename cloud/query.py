"""Trend queries over the store: bucketed series, robust trends, anomaly listings.

Parameters arrive as strings and are checked here; a bad one raises
:class:`~cloud.errors.QueryError` (HTTP 400) naming it. ``/v1/series`` never returns more than
``limits.series_point_budget`` buckets: without ``every`` the shortest readable width within the
budget is chosen; an explicit ``every`` that would exceed it is refused.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import numpy as np

from cloud.errors import QueryError
from cloud.metrics import CloudMetrics
from cloud.settings import LimitsSettings
from cloud.store import AGGREGATES, TimeSeriesStore
from cloud.timeparse import auto_every, parse_duration, parse_time

#: Buckets a trend is fitted on (Theil-Sen is quadratic in this).
TREND_BUCKETS = 500
_HOUR_MS = 3_600_000


def theil_sen(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Median of pairwise slopes, and the median intercept: robust to outliers.

    >>> slope, icpt = theil_sen(np.array([0., 1, 2, 3, 4]), np.array([1., 3, 5, 7, 100]))
    >>> float(slope), float(icpt)
    (2.0, 1.0)
    """
    i, j = np.triu_indices(x.size, k=1)
    dx = x[j] - x[i]
    keep = dx != 0
    slope = float(np.median((y[j] - y[i])[keep] / dx[keep]))
    return slope, float(np.median(y - slope * x))


def _name(value: str | None, what: str) -> str:
    if value is None or not value.strip():
        raise QueryError(f"`{what}` is required")
    return value


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


class QueryService:
    """The trend API's logic, independent of HTTP."""

    def __init__(self, store: TimeSeriesStore, limits: LimitsSettings, metrics: CloudMetrics,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.limits = limits
        self.clock = clock
        self.m_query = metrics.query_duration

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def _range(self, start: str | None, end: str | None) -> tuple[int, int]:
        now = self.now_ms()
        end_ms = parse_time(end, now) if end else now
        start_ms = parse_time(start, now) if start else end_ms - 86_400_000
        if start_ms >= end_ms:
            raise QueryError(f"`start` ({iso(start_ms)}) must be before `end` ({iso(end_ms)})")
        if end_ms - start_ms > self.limits.max_query_range_s * 1000:
            raise QueryError(f"the range is longer than {self.limits.max_query_range_s} s; "
                             "narrow `start`..`end`")
        return start_ms, end_ms

    def series(self, device: str | None, sensor: str | None, start: str | None,
               end: str | None, every: str | None, agg: str | None) -> dict[str, Any]:
        """Columnar aggregates: ``{"t": [...], "<agg>": [...], ...}`` plus the query's shape."""
        dev, sen = _name(device, "device"), _name(sensor, "sensor")
        aggs = [a.strip() for a in (agg or "mean").split(",") if a.strip()]
        unknown = [a for a in aggs if a not in AGGREGATES]
        if unknown or not aggs:
            raise QueryError(f"unknown aggregate {', '.join(unknown) or '(none)'}; "
                             f"choose from {', '.join(AGGREGATES)}")
        aggs = list(dict.fromkeys(aggs))
        start_ms, end_ms = self._range(start, end)
        budget = self.limits.series_point_budget
        if every:
            every_ms = parse_duration(every)
            if every_ms <= 0:
                raise QueryError("`every` must be positive")
            buckets = (end_ms - 1) // every_ms - start_ms // every_ms + 1
            if buckets > budget:
                raise QueryError(f"`every`={every} gives {buckets} buckets; the point budget "
                                 f"is {budget}: use a longer `every` or a shorter range")
        else:
            every_ms = auto_every(end_ms - start_ms, budget - 1)
        t0 = time.perf_counter()
        result = self.store.series(dev, sen, start_ms, end_ms, every_ms, aggs)
        self.m_query.observe(time.perf_counter() - t0)
        out: dict[str, Any] = {
            "device": dev, "sensor": sen, "start": start_ms, "end": end_ms,
            "every": every_ms, "every_auto": not every, "aggregates": aggs, "t": result.t,
        }
        out.update(result.columns)
        return out

    def trend(self, device: str | None, sensor: str | None, window: str | None,
              threshold: float | None) -> dict[str, Any]:
        """Level, Theil-Sen slope per hour and, with ``threshold``, the projected crossing."""
        dev, sen = _name(device, "device"), _name(sensor, "sensor")
        window_ms = parse_duration(window or "24h")
        if not 0 < window_ms <= self.limits.max_trend_window_s * 1000:
            raise QueryError(f"`window` must be between 1ms and {self.limits.max_trend_window_s} s")
        if threshold is not None and not np.isfinite(threshold):
            raise QueryError("`threshold` must be a finite number")
        end_ms = self.now_ms()
        start_ms = end_ms - window_ms
        every_ms = max(1, -(-window_ms // TREND_BUCKETS))
        t0 = time.perf_counter()
        res = self.store.series(dev, sen, start_ms, end_ms, every_ms, ["mean"])
        self.m_query.observe(time.perf_counter() - t0)
        out: dict[str, Any] = {
            "device": dev, "sensor": sen, "start": start_ms, "end": end_ms, "every": every_ms,
            "points": len(res.t), "level": None, "slope_per_hour": None,
            "threshold": threshold, "crossing_ts": None, "crossing_in_hours": None,
            "already_beyond": None,
        }
        if not res.t:
            return out
        y = np.array(res.columns["mean"], dtype=float)
        x = (np.array(res.t, dtype=float) + every_ms / 2 - end_ms) / _HOUR_MS  # hours before now
        if len(res.t) < 3:
            out["level"] = float(y[-1])
            return out
        slope, intercept = theil_sen(x, y)
        level = intercept + slope * float(x[-1])
        out.update(level=level, slope_per_hour=slope)
        if threshold is not None:
            self._crossing(out, level, slope, intercept, threshold, end_ms)
        return out

    @staticmethod
    def _crossing(out: dict[str, Any], level: float, slope: float, intercept: float,
                  threshold: float, end_ms: int) -> None:
        out["already_beyond"] = False
        if slope != 0:
            hours = (threshold - intercept) / slope  # hours after `end` (now)
            if hours > 0:
                out["crossing_in_hours"] = hours
                out["crossing_ts"] = int(end_ms + hours * _HOUR_MS)
                return
        # Heading away from the threshold (or flat): has the level already passed it?
        out["already_beyond"] = bool(
            (slope > 0 and level >= threshold) or (slope < 0 and level <= threshold)
        )

    def anomalies(self, device: str | None, sensor: str | None, start: str | None,
                  end: str | None, limit: int | None) -> list[dict[str, Any]]:
        start_ms, end_ms = self._range(start, end)
        cap = self.limits.max_anomalies_per_query
        if limit is not None and not 1 <= limit <= cap:
            raise QueryError(f"`limit` must be between 1 and {cap}")
        t0 = time.perf_counter()
        rows = self.store.anomalies(device or None, sensor or None, start_ms, end_ms,
                                    limit or cap)
        self.m_query.observe(time.perf_counter() - t0)
        return [a.to_dict() for a in rows]
