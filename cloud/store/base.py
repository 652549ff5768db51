"""The time-series store interface every backend implements (SQLite, InfluxDB).

A backend writes readings and anomalies idempotently (a point is identified by its series and
device timestamp, so writing it again overwrites it with the same values), reports per-point
rejections instead of failing a whole batch, raises :class:`~cloud.errors.StoreUnavailable` when
it cannot take a write at all, and answers bucketed aggregate queries and anomaly listings.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ingest_protocol import AnomalyRecord

#: Aggregates ``series`` computes, in their canonical order.
AGGREGATES: tuple[str, ...] = ("mean", "min", "max", "count", "last", "p95")
_UNWRITABLE = re.compile(r"[\x00-\x1f\x7f]|\\+(?:[ ,=]|$)")


class UnwritableName(ValueError):
    """A device, sensor, site or detector name no store accepts (see docs/schema.md)."""


def check_name(key: str, value: str) -> None:
    """Raise :class:`UnwritableName` for a name every store must refuse.

    Names are non-empty, without control characters, and a backslash may not end them nor
    precede a space, comma or equals sign: InfluxDB 1.x line protocol cannot carry those, and
    every store refuses the same names so that they behave alike.
    """
    if not value or _UNWRITABLE.search(value):
        raise UnwritableName(f"{key} {value!r} is empty, contains a control character, or has a "
                             "backslash at its end or before a space, comma or equals sign")


def check_point(p: Point | AnomalyPoint) -> None:
    """Check every name of a reading or anomaly."""
    check_name("device", p.device)
    check_name("sensor", p.sensor)
    if p.site:
        check_name("site", p.site)
    if isinstance(p, AnomalyPoint):
        check_name("detector", p.detector)


@dataclass(slots=True)
class Point:
    """One reading to store. ``value`` is always a float (booleans 1.0/0.0)."""

    device: str
    sensor: str
    ts_ms: int
    value: float
    seq: int | None = None
    unit: str | None = None
    quality: int = 0
    site: str | None = None


#: One anomaly a gateway detector flagged: the ingest contract's record (``ts_ms``, with
#: ``to_dict()`` giving the wire form the ingest body and ``/v1/anomalies`` carry).
AnomalyPoint = AnomalyRecord


@dataclass(frozen=True, slots=True)
class Rejection:
    """A point the store refused: its index in the written sequence, a code and a reason."""

    index: int
    code: str
    reason: str


@dataclass(slots=True)
class WriteResult:
    """Per-point rejections of one write; everything not listed was stored."""

    rejected: list[Rejection] = field(default_factory=list)
    anomalies_rejected: list[Rejection] = field(default_factory=list)


@dataclass(slots=True)
class SeriesResult:
    """Bucketed aggregates: ``t`` holds bucket starts (UTC ms), one column per aggregate."""

    t: list[int]
    columns: dict[str, list[float | None]]


class TimeSeriesStore(Protocol):
    """Where readings and anomalies are kept."""

    kind: str

    def start(self) -> None:
        """Connect (and create the database or tables when configured to)."""
        ...

    def stop(self) -> None:
        """Release connections."""
        ...

    def ping(self) -> None:
        """Return when the store answers; raise StoreUnavailable otherwise."""
        ...

    def write(self, points: Sequence[Point], anomalies: Sequence[AnomalyPoint]) -> WriteResult:
        """Store everything it can; per-point rejections in the result; StoreUnavailable if
        nothing could be attempted (then nothing may be assumed stored)."""
        ...

    def series(self, device: str, sensor: str, start_ms: int, end_ms: int, every_ms: int,
               aggs: Sequence[str]) -> SeriesResult:
        """Aggregates per ``every_ms`` bucket (aligned to the epoch) of ``[start_ms, end_ms)``;
        empty buckets are left out."""
        ...

    def anomalies(self, device: str | None, sensor: str | None, start_ms: int, end_ms: int,
                  limit: int) -> list[AnomalyPoint]:
        """Anomalies in ``[start_ms, end_ms)``, oldest first, at most ``limit``."""
        ...
