"""Bucketed aggregates with numpy, defined exactly as InfluxDB 1.x computes them.

Buckets are aligned to the epoch (``ts - ts % every``). ``p95`` is InfluxDB's ``percentile``:
the value at index ``floor(n * 0.95 + 0.5) - 1`` of the bucket's sorted values (nearest rank
with rounding). ``last`` is the value with the newest timestamp.

>>> import numpy as np
>>> r = bucket_aggregates(np.array([0, 500, 1000]), np.array([1.0, 3.0, 5.0]), 1000,
...                       ["mean", "count", "last", "p95"])
>>> r.t, r.columns
([0, 1000], {'mean': [2.0, 5.0], 'count': [2.0, 1.0], 'last': [3.0, 5.0], 'p95': [3.0, 5.0]})
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cloud.store.base import SeriesResult


def percentile_index(n: int, pct: float = 95.0) -> int:
    """InfluxDB's index into ``n`` sorted values for a percentile (clamped to the range)."""
    return min(max(int(np.floor(n * pct / 100.0 + 0.5)) - 1, 0), n - 1)


def bucket_aggregates(ts: np.ndarray, values: np.ndarray, every_ms: int,
                      aggs: Sequence[str]) -> SeriesResult:
    """Aggregates per bucket of time-sorted ``ts`` (UTC ms) and ``values``."""
    out = SeriesResult([], {a: [] for a in aggs})
    if ts.size == 0:
        return out
    buckets = ts - ts % every_ms
    starts = np.flatnonzero(np.r_[True, buckets[1:] != buckets[:-1]])
    ends = np.r_[starts[1:], ts.size]
    counts = ends - starts
    out.t = [int(b) for b in buckets[starts]]
    for a in aggs:
        if a == "mean":
            col = np.add.reduceat(values, starts) / counts
        elif a == "min":
            col = np.minimum.reduceat(values, starts)
        elif a == "max":
            col = np.maximum.reduceat(values, starts)
        elif a == "count":
            col = counts.astype(float)
        elif a == "last":
            col = values[ends - 1]
        elif a == "p95":
            # Sort by value within each bucket at once; pick InfluxDB's index in each.
            ranked = values[np.lexsort((values, buckets))]
            idx = np.clip(np.floor(counts * 0.95 + 0.5).astype(np.int64) - 1, 0, counts - 1)
            col = ranked[starts + idx]
        else:
            raise ValueError(f"unknown aggregate {a!r}")
        out.columns[a] = [float(v) for v in col]
    return out
