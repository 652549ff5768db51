"""Series windows for scheduled rules, read through the cloud's time-series store.

Scheduled rules (forecast, rate of change) need a window of one series. The store answers
bucketed aggregates natively (``GROUP BY time`` on InfluxDB), so a window is read as bucket
means at a resolution of at most ``max_points`` buckets: cheap on long look-backs and
exactly what a trend fit needs.
"""

from __future__ import annotations

import numpy as np

from cloud.store.base import TimeSeriesStore


class StoreSeriesSource:
    """Windows of one series over a :class:`TimeSeriesStore`: fits the alerting rules'
    ``SeriesSource`` protocol structurally, so the store needs nothing from alerting."""

    def __init__(self, store: TimeSeriesStore, max_points: int = 500,
                 min_every_ms: int = 1000) -> None:
        self._store = store
        self._max_points = max_points
        self._min_every_ms = min_every_ms

    def window(
        self, device: str, sensor: str, start_ms: int, end_ms: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Bucket means of ``[start_ms, end_ms]`` (bucket starts as timestamps)."""
        span = max(1, end_ms + 1 - start_ms)
        every = max(self._min_every_ms, -(-span // self._max_points))
        result = self._store.series(device, sensor, start_ms, end_ms + 1, every, ["mean"])
        means = result.columns.get("mean", [])
        keep = [(t, v) for t, v in zip(result.t, means, strict=True) if v is not None]
        ts = np.fromiter((t for t, _ in keep), dtype=np.int64, count=len(keep))
        values = np.fromiter((v for _, v in keep), dtype=np.float64, count=len(keep))
        return ts, values
