"""Scheduled downsampling: every ``run_every_s``, the cloud recomputes the interval aggregates
of the last ``lookback_s`` (ending ``lag_s`` ago) and writes them back into the store
(``[downsample]`` settings; InfluxDB only).

This is the retention plan's aggregation for InfluxDB 3, which has no continuous queries; on
1.x a continuous query (``deploy/influxdb/retention-1x.influxql``) does the same inside
``influxd``. Every run rewrites whole intervals, so it is idempotent: a replica or worker that
runs it too, or a run repeated after a failure, writes the same points again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from cloud.errors import StoreError
from cloud.metrics import CloudMetrics
from cloud.settings import DownsampleSettings
from cloud.store import InfluxDBStore
from common.loop import BackgroundLoop

log = logging.getLogger(__name__)


class Downsampler:
    """Runs :meth:`InfluxDBStore.downsample` on a schedule in a background thread."""

    def __init__(self, settings: DownsampleSettings, store: InfluxDBStore,
                 metrics: CloudMetrics, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.store = store
        self.m = metrics
        self._clock = clock
        self._loop = BackgroundLoop("downsample", self._scheduled_run, settings.run_every_s)

    def window(self, now_ms: int) -> tuple[int, int]:
        """The ``[start, end)`` a run at ``now_ms`` recomputes: whole intervals only."""
        s = self.settings
        every_ms = s.every_s * 1000
        end = (now_ms - s.lag_s * 1000) // every_ms * every_ms
        start = end - (s.lookback_s * 1000 + every_ms - 1) // every_ms * every_ms
        return start, end

    def run_once(self, now_ms: int | None = None) -> int:
        """One run; returns the aggregate points written (raises :class:`StoreError`)."""
        s = self.settings
        start, end = self.window(int(self._clock() * 1000) if now_ms is None else now_ms)
        try:
            written = self.store.downsample(start, end, s.every_s, s.measurement, s.database,
                                            s.retention_policy)
        except StoreError:
            self.m.downsample_runs.labels(outcome="failed").inc()
            raise
        self.m.downsample_runs.labels(outcome="ok").inc()
        self.m.downsample_points.inc(written)
        return written

    def start(self) -> None:
        """Run every ``run_every_s`` in a background thread until :meth:`stop`."""
        self._loop.start()

    def stop(self) -> None:
        self._loop.stop()

    def _scheduled_run(self) -> None:
        try:
            written = self.run_once()
        except StoreError as exc:  # influxd down or refusing: the next run covers it
            log.warning("downsampling failed, retrying in %.0f s: %s",
                        self.settings.run_every_s, exc)
        else:
            log.debug("downsampling wrote %d aggregate points", written)
