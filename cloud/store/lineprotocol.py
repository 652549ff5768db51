"""Readings and anomalies as InfluxDB line protocol (measurements ``readings`` and ``anomalies``).

Tags are ``device``, ``sensor``, ``site`` (and ``detector`` for anomalies); ``value`` is always a
float field, so a measurement never sees a field-type conflict between numeric and boolean
sensors. No tag and field share a name (InfluxDB 3 rejects that). See docs/schema.md.

>>> reading_line(Point("pump 7", "temp", 1_700_000_000_000, 21.5, seq=3, unit="Cel"), "ms")
'readings,device=pump\\\\ 7,sensor=temp value=21.5,seq=3i,quality=0i,unit="Cel" 1700000000000'
"""

from __future__ import annotations

from cloud.store.base import AnomalyPoint, Point, check_name
from cloud.store.escaping import field_string, tag_escape

READINGS = "readings"
ANOMALIES = "anomalies"
_SCALE = {"ms": (1, 1), "s": (1, 1000), "u": (1000, 1), "ns": (1_000_000, 1)}


def _tag(key: str, value: str) -> str:
    check_name(key, value)
    return f",{key}={tag_escape(value)}"


def to_precision(ts_ms: int, precision: str) -> int:
    """A UTC millisecond timestamp in the write's precision (``s`` truncates)."""
    mul, div = _SCALE[precision]
    return ts_ms * mul // div


def from_precision(ts: int, precision: str) -> int:
    mul, div = _SCALE[precision]
    return ts * div // mul


def _series(p: Point) -> str:
    tags = _tag("device", p.device) + _tag("sensor", p.sensor)
    if p.site:
        tags += _tag("site", p.site)
    return READINGS + tags


def reading_line(p: Point, precision: str, series: dict[tuple[str, str, str | None], str]
                 | None = None) -> str:
    """One reading as a line; raises :class:`UnwritableName` for names it cannot carry.

    ``series`` caches the escaped measurement-and-tags prefix per series across calls (a batch
    holds many readings of few series).
    """
    if series is None:
        prefix = _series(p)
    else:
        key = (p.device, p.sensor, p.site)
        prefix = series.get(key) or series.setdefault(key, _series(p))
    fields = f"value={float(p.value)!r}"
    if p.seq is not None:
        fields += f",seq={int(p.seq)}i"
    fields += f",quality={int(p.quality)}i"
    if p.unit:
        fields += f",unit={field_string(p.unit)}"
    return f"{prefix} {fields} {to_precision(p.ts_ms, precision)}"


def anomaly_line(a: AnomalyPoint, precision: str) -> str:
    """One anomaly as a line."""
    tags = _tag("detector", a.detector) + _tag("device", a.device) + _tag("sensor", a.sensor)
    if a.site:
        tags += _tag("site", a.site)
    fields = f"value={float(a.value)!r},score={float(a.score)!r}"
    if a.expected_low is not None:
        fields += f",expected_low={float(a.expected_low)!r}"
    if a.expected_high is not None:
        fields += f",expected_high={float(a.expected_high)!r}"
    return f"{ANOMALIES}{tags} {fields} {to_precision(a.ts_ms, precision)}"
