"""Writing a batch held per series (:class:`ingest_protocol.columns.Series`) to any store.

A store with a ``write_series`` method (InfluxDB: line protocol per series) takes the series
as they are; any other gets the readings as :class:`Point` s. Either way reading rejections
name the readings' positions in the batch (``Series.index``).
"""

from __future__ import annotations

from collections.abc import Sequence

from cloud.store.base import AnomalyPoint, Point, Rejection, TimeSeriesStore, WriteResult
from ingest_protocol.columns import Series


def series_points(series: Sequence[Series]) -> tuple[list[Point], list[int]]:
    """Every reading as a :class:`Point`, and each one's position in the batch."""
    points: list[Point] = []
    index: list[int] = []
    for s in series:
        d, n, site, unit = s.device, s.sensor, s.site, s.unit
        points += [Point(d, n, ts, v, q, unit, qual, site)
                   for ts, v, q, qual in zip(s.ts, s.value, s.seq, s.quality, strict=True)]
        index += s.index
    return points, index


def write_series(store: TimeSeriesStore, series: Sequence[Series],
                 anomalies: Sequence[AnomalyPoint]) -> WriteResult:
    """Write ``series`` and ``anomalies``; reading rejections carry batch positions."""
    fast = getattr(store, "write_series", None)
    if fast is not None:
        result: WriteResult = fast(series, anomalies)
        return result
    points, index = series_points(series)
    result = store.write(points, anomalies)
    result.rejected = [Rejection(index[r.index], r.code, r.reason) for r in result.rejected]
    return result


class LazyPoints(Sequence[Point]):
    """The readings of ``series`` as :class:`Point` s, made only if someone asks (listeners
    that read per series never do)."""

    def __init__(self, series: Sequence[Series]) -> None:
        self._series = series
        self._points: list[Point] | None = None
        self._len = sum(len(s.ts) for s in series)

    def _all(self) -> list[Point]:
        if self._points is None:
            self._points = series_points(self._series)[0]
        return self._points

    def __len__(self) -> int:
        return self._len

    def __getitem__(self, i):  # type: ignore[no-untyped-def]
        return self._all()[i]

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._all())


def without(series: Sequence[Series], refused: set[int]) -> list[Series]:
    """``series`` less the readings at batch positions ``refused``."""
    out = []
    for s in series:
        keep = [j for j, i in enumerate(s.index) if i not in refused]
        if len(keep) == len(s.index):
            out.append(s)
        elif keep:
            out.append(Series(s.device, s.sensor, s.site, s.unit, [s.ts[j] for j in keep],
                              [s.value[j] for j in keep], [s.seq[j] for j in keep],
                              [s.quality[j] for j in keep], [s.index[j] for j in keep]))
    return out
