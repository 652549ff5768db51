"""Readings and anomalies as InfluxDB line protocol (measurements ``readings`` and ``anomalies``).

Tags are ``device``, ``sensor``, ``site`` (and ``detector`` for anomalies); ``value`` is always a
float field, so a measurement never sees a field-type conflict between numeric and boolean
sensors. No tag and field share a name (InfluxDB 3 rejects that). See docs/schema.md.

>>> reading_line(Point("pump 7", "temp", 1_700_000_000_000, 21.5, seq=3, unit="Cel"), "ms")
'readings,device=pump\\\\ 7,sensor=temp value=21.5,seq=3i,quality=0i,unit="Cel" 1700000000000'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from cloud.store.base import AnomalyPoint, Point, UnwritableName, check_name
from cloud.store.escaping import field_string, tag_escape
from ingest_protocol.columns import Series

READINGS = "readings"
ANOMALIES = "anomalies"
_COMMON = "%s value=%r,seq=%di,quality=%di %d"
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


def _fields(p: Point) -> str:
    fields = f"value={float(p.value)!r}"
    if p.seq is not None:
        fields += f",seq={int(p.seq)}i"
    fields += f",quality={int(p.quality)}i"
    if p.unit:
        fields += f",unit={field_string(p.unit)}"
    return fields


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
    return f"{prefix} {_fields(p)} {to_precision(p.ts_ms, precision)}"


def reading_lines(points: Sequence[Point], precision: str,
                  series: dict[tuple[str, str, str | None], str]
                  ) -> tuple[list[str], list[int], list[tuple[int, str]]]:
    """Many readings as lines: ``(lines, their indexes in points, [(index, why unwritable)])``.

    The same lines as :func:`reading_line`, built in one pass: the escaped prefix comes from
    ``series`` (escaped and checked once per series), and the common reading (a ``seq``, no
    ``unit``) is one formatting operation.

    >>> pts = [Point("a b", "t", 5000, 1, seq=2), Point("", "t", 5, 1.5)]
    >>> lines, index, bad = reading_lines(pts, "s", {})
    >>> lines, index, bad[0][0]
    (['readings,device=a\\\\ b,sensor=t value=1.0,seq=2i,quality=0i 5'], [0], 1)
    """
    mul, div = _SCALE[precision]
    scaled = (mul, div) != (1, 1)
    lines: list[str] = []
    index: list[int] = []
    bad: list[tuple[int, str]] = []
    get = series.get
    for i, p in enumerate(points):
        key = (p.device, p.sensor, p.site)
        prefix = get(key)
        if prefix is None:
            try:
                prefix = series[key] = _series(p)
            except UnwritableName as exc:
                bad.append((i, str(exc)))
                continue
        ts = p.ts_ms * mul // div if scaled else p.ts_ms
        if p.seq is not None and not p.unit:
            # %-formatting: ``%d`` truncates like int() and is ~20% cheaper than f-strings
            # calling int() three times here.
            lines.append(_COMMON % (prefix, float(p.value), p.seq, p.quality, ts))
        else:
            lines.append(f"{prefix} {_fields(p)} {int(ts)}")
        index.append(i)
    return lines, index, bad


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



#: Per series: (measurement and tags up to ``value=``, the tail after the seq text when no
#: reading has a quality, the tail after the quality text), escaped and checked once.
SeriesTemplate = tuple[bytes, bytes, bytes]
TemplateCache = dict[tuple[str, str, str | None, str | None], SeriesTemplate]


def series_template(device: str, sensor: str, site: str | None, unit: str | None
                    ) -> SeriesTemplate:
    """The constant parts of one series' lines; raises :class:`UnwritableName` for names it
    cannot carry.

    >>> series_template("pump 7", "t", None, "%")
    (b'readings,device=pump\\\\ 7,sensor=t value=', b'i,quality=0i,unit="%" ', b'i,unit="%" ')
    """
    tags = _tag("device", device) + _tag("sensor", sensor)
    if site:
        tags += _tag("site", site)
    unit_field = f",unit={field_string(unit)}" if unit else ""
    return ((READINGS + tags + " value=").encode(), f"i,quality=0i{unit_field} ".encode(),
            f"i{unit_field} ".encode())


_TEXTS = msgspec.json.Encoder()
_NL = b"\n"
#: The parts of one reading's line without and with a quality column (None: filled per line).
_LINE = (None, None, b",seq=", None, None, None, _NL)
_LINE_Q = (None, None, b",seq=", None, b"i,quality=", None, None, None, _NL)


class LineBlock:
    """Lines of line protocol held as one flat list of parts, ``stride`` parts per line, the
    last of them ``b"\\n"``: a run of lines becomes a request body in one ``bytes.join`` of a
    slice, and no line is ever an object of its own.

    >>> block = LineBlock.of_lines([b"m v=1 1", b"m v=2 2"])
    >>> len(block), block.body(0, 2), block.lines()
    (2, b'm v=1 1\\nm v=2 2\\n', [b'm v=1 1', b'm v=2 2'])
    """

    __slots__ = ("parts", "stride")

    def __init__(self, parts: list[bytes], stride: int) -> None:
        self.parts = parts
        self.stride = stride

    @classmethod
    def of_lines(cls, lines: Sequence[bytes]) -> LineBlock:
        parts = [_NL] * (2 * len(lines))
        parts[0::2] = lines
        return cls(parts, 2)

    def __len__(self) -> int:
        return len(self.parts) // self.stride

    def append(self, line: bytes) -> None:
        """One more line, padded to the stride with empty parts."""
        self.parts += [line, *[b""] * (self.stride - 2), _NL]

    def body(self, start: int, end: int) -> bytes:
        """Lines ``start`` to ``end`` (exclusive) as a request body, each ending in a newline."""
        k = self.stride
        if start == 0 and end * k >= len(self.parts):
            return b"".join(self.parts)
        return b"".join(self.parts[start * k:end * k])

    def lines(self) -> list[bytes]:
        """Every line on its own, without its newline (tests, reports)."""
        k = self.stride
        return [b"".join(self.parts[i:i + k - 1]) for i in range(0, len(self.parts), k)]


def _texts(numbers: Sequence[int] | Sequence[float]) -> list[bytes]:
    """Each number's text, converted in C (floats in shortest round-trip form, which line
    protocol parses as the same float)."""
    return _TEXTS.encode(numbers)[1:-1].split(b",") if numbers else []


def batch_lines(series: Sequence[Series], precision: str, templates: TemplateCache
                ) -> tuple[LineBlock, list[int], list[tuple[int, str]]]:
    """Every reading of a batch held per series as a line: ``(lines, each line's batch
    position, [(series position in series, why unwritable)])``.

    The numbers of the whole batch are converted to text in three C calls (one per column),
    and each column of parts is put in place in the flat :class:`LineBlock` by one slice
    assignment; a series' constant parts come from ``templates`` (escaped and checked once
    per series). The lines :func:`reading_line` gives, up to the float spelling (``1e+16``
    there, ``1e16`` here: the same float).

    >>> s = Series("d", "t", None, None, [5000], [1.0], [2], [0], [0])
    >>> block, index, bad = batch_lines([s], "s", {})
    >>> block.lines(), index, bad
    ([b'readings,device=d,sensor=t value=1.0,seq=2i,quality=0i 5'], [0], [])
    """
    heads: list[bytes] = []
    tails: list[bytes] = []
    values: list[float] = []
    seqs: list[int] = []
    stamps: list[int] = []
    quality: list[int] = []
    index: list[int] = []
    bad: list[tuple[int, str]] = []
    with_quality = any(any(s.quality) for s in series)
    tail = 2 if with_quality else 1
    for pos, s in enumerate(series):
        key = (s.device, s.sensor, s.site, s.unit)
        template = templates.get(key)
        if template is None:
            try:
                template = templates[key] = series_template(*key)
            except UnwritableName as exc:
                bad.append((pos, str(exc)))
                continue
        n = len(s.ts)
        heads += [template[0]] * n
        tails += [template[tail]] * n
        values += s.value
        seqs += s.seq
        stamps += s.ts
        index += s.index
        if with_quality:
            quality += s.quality
    mul, div = _SCALE[precision]
    if (mul, div) != (1, 1):
        stamps = [t * mul // div for t in stamps]
    line = _LINE_Q if with_quality else _LINE
    k = len(line)
    parts: list[Any] = list(line) * len(heads)
    parts[0::k] = heads
    parts[1::k] = _texts(values)
    parts[3::k] = _texts(seqs)
    if with_quality:
        parts[5::k] = _texts(quality)
    parts[k - 3::k] = tails
    parts[k - 2::k] = _texts(stamps)
    return LineBlock(parts, k), index, bad
