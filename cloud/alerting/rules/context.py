"""The evaluation context of scheduled rules: series windows from the time-series store,
anomaly counts and the stream registry from the metadata database."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
from sqlalchemy import func, select

from cloud.alerting.core.db import Database
from cloud.alerting.monitors.tables import anomaly_buckets, stream_stats
from cloud.alerting.rules.base import SeriesSource, StreamInfo


class StoreContext:
    """Implements :class:`~cloud.alerting.rules.base.EvalContext` over a store and the
    metadata DB."""

    def __init__(self, engine: Database, source: SeriesSource, bucket_s: int) -> None:
        self._engine = engine
        self._source = source
        self._bucket_ms = bucket_s * 1000
        self._local = threading.local()
        #: Run before reading the streams (the recorder's flush of merged statistics).
        self.before_read: Callable[[], None] = lambda: None

    def window(
        self, device: str, sensor: str, start_ms: int, end_ms: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """A window of one series, as floats."""
        ts, values = self._source.window(device, sensor, start_ms, end_ms)
        return np.asarray(ts, dtype=np.int64), np.asarray(values, dtype=np.float64)

    def anomaly_events(self, device: str, sensor: str, start_ms: int, end_ms: int) -> int:
        """Events in the buckets overlapping ``[start_ms, end_ms)``.

        Inside :meth:`tick_cache` one grouped query serves every stream of a window, so a tick
        over thousands of streams costs one query per rule window; outside it (the ingest
        path) each call reads fresh counts.
        """
        first = start_ms - start_ms % self._bucket_ms
        cache: dict[tuple[int, int], dict[tuple[str, str], int]] | None = getattr(
            self._local, "counts", None)
        if cache is None:
            return self._counts(first, end_ms, (device, sensor)).get((device, sensor), 0)
        if (first, end_ms) not in cache:
            cache[(first, end_ms)] = self._counts(first, end_ms, None)
        return cache[(first, end_ms)].get((device, sensor), 0)

    def _counts(self, first: int, end_ms: int, only: tuple[str, str] | None
                ) -> dict[tuple[str, str], int]:
        c = anomaly_buckets.c
        query = select(c.device, c.sensor, func.sum(c.events)).where(
            c.bucket_ms >= first, c.bucket_ms < end_ms).group_by(c.device, c.sensor)
        if only is not None:
            query = query.where(c.device == only[0], c.sensor == only[1])
        with self._engine.connect() as conn:
            return {(d, s): int(n) for d, s, n in conn.execute(query)}

    @contextmanager
    def tick_cache(self) -> Iterator[None]:
        """Share grouped anomaly counts between the streams of one tick (this thread only)."""
        self._local.counts = {}
        try:
            yield
        finally:
            self._local.counts = None

    def streams(self) -> list[StreamInfo]:
        """Every stream the ingest path has seen."""
        self.before_read()
        with self._engine.connect() as conn:
            return [StreamInfo(r.device, r.sensor, r.site, r.unit, r.last_ts_ms,
                               r.last_ingest_ms)
                    for r in conn.execute(select(stream_stats))]
