"""The evaluation context of scheduled rules: series windows from the time-series store,
anomaly counts and the stream registry from the metadata database."""

from __future__ import annotations

import numpy as np
from sqlalchemy import func, select

from cloud.alerting.db import Database
from cloud.alerting.tables import anomaly_buckets, stream_stats
from cloud.rules.base import SeriesSource, StreamInfo


class StoreContext:
    """Implements :class:`~cloud.rules.base.EvalContext` over a store and the metadata DB."""

    def __init__(self, engine: Database, source: SeriesSource, bucket_s: int) -> None:
        self._engine = engine
        self._source = source
        self._bucket_ms = bucket_s * 1000

    def window(
        self, device: str, sensor: str, start_ms: int, end_ms: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """A window of one series, as floats."""
        ts, values = self._source.window(device, sensor, start_ms, end_ms)
        return np.asarray(ts, dtype=np.int64), np.asarray(values, dtype=np.float64)

    def anomaly_events(self, device: str, sensor: str, start_ms: int, end_ms: int) -> int:
        """Events in the buckets overlapping ``[start_ms, end_ms)``."""
        c = anomaly_buckets.c
        first = start_ms - start_ms % self._bucket_ms
        with self._engine.connect() as conn:
            total = conn.execute(select(func.coalesce(func.sum(c.events), 0)).where(
                c.device == device, c.sensor == sensor, c.bucket_ms >= first,
                c.bucket_ms < end_ms)).scalar_one()
        return int(total)

    def streams(self) -> list[StreamInfo]:
        """Every stream the ingest path has seen."""
        with self._engine.connect() as conn:
            return [StreamInfo(r.device, r.sensor, r.site, r.unit, r.last_ts_ms)
                    for r in conn.execute(select(stream_stats))]
