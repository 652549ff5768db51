"""A valid batch held per series: what the fast parsers (:mod:`ingest_protocol.fast`,
:mod:`ingest_protocol.compact`) give a receiver.

A :class:`Series` is one (device, sensor, site, unit) with parallel lists of its readings'
``ts``, ``value`` (floats: booleans are 1.0/0.0), ``seq`` and ``quality``, and ``index``: each
reading's position in the batch's flattened ``readings`` order (the position a rejection names).
A receiver formats, counts and classifies a series in one go instead of reading by reading.

>>> s = Series("d", "t", None, None, [5, 6], [1.0, 2.0], [1, 2], [0, 0], [0, 1])
>>> [e["ts"] for e in s.entries()]
[5, 6]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class Series:
    """The readings of one series in a batch, as parallel lists."""

    device: str
    sensor: str
    site: str | None
    unit: str | None
    ts: list[int]
    value: list[float]
    seq: list[int]
    quality: list[int]
    index: list[int]

    def entries(self) -> list[dict[str, Any]]:
        """The readings as the contract's wire entries (``quality`` 0 and null names left out)."""
        head: dict[str, Any] = {"device": self.device, "sensor": self.sensor}
        extra: dict[str, Any] = {}
        if self.unit is not None:
            extra["unit"] = self.unit
        if self.site is not None:
            extra["site"] = self.site
        out = []
        for ts, value, seq, quality in zip(self.ts, self.value, self.seq, self.quality,
                                           strict=True):
            entry = {**head, "ts": ts, "value": value, "seq": seq, **extra}
            if quality:
                entry["quality"] = quality
            out.append(entry)
        return out


@dataclass(slots=True)
class ValidBatch:
    """A batch whose envelope and every entry passed the contract's rules.

    ``anomalies`` are the validated wire dicts (batches carry few); ``count`` the readings.
    """

    v: int
    gateway_id: str
    batch_id: str
    sent_at: Any
    series: list[Series]
    anomalies: list[dict[str, Any]]
    count: int

    def newest_ts(self) -> int | None:
        """The latest timestamp of any reading or anomaly (None for an empty batch)."""
        stamps = [max(s.ts) for s in self.series if s.ts]
        stamps += [a["ts"] for a in self.anomalies]
        return max(stamps, default=None)

    @property
    def readings(self) -> list[dict[str, Any]]:
        """Every reading as a wire entry, in flattened order (for counts, dead letters)."""
        out: list[dict[str, Any]] = [{}] * self.count
        for s in self.series:
            for i, entry in zip(s.index, s.entries(), strict=True):
                out[i] = entry
        return out
