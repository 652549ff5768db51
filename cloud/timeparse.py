"""Parsing of the query API's times and durations; every error is a :class:`QueryError`.

>>> parse_duration("90s"), parse_duration("1h"), parse_duration("250ms")
(90000, 3600000, 250)
>>> parse_time("1700000000000", now_ms=0), parse_time("2023-11-14T22:13:20Z", now_ms=0)
(1700000000000, 1700000000000)
>>> parse_time("-1h", now_ms=7_200_000), parse_time("now", now_ms=5)
(3600000, 5)
>>> parse_duration("soon")
Traceback (most recent call last):
...
cloud.errors.QueryError: 'soon' is not a duration: use 500ms, 10s, 5m, 1h, 1d or 1w
"""

from __future__ import annotations

import re

from cloud.errors import QueryError
from firmware_protocol.errors import TimestampError
from firmware_protocol.timestamps import parse_iso

_UNITS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_DURATION = re.compile(r"^\s*(\d{1,12})\s*(ms|s|m|h|d|w)\s*$")
#: Readable ``every`` values chosen automatically, shortest first.
NICE_EVERY_MS = [
    1000, 2000, 5000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000, 900_000,
    1_800_000, 3_600_000, 7_200_000, 10_800_000, 21_600_000, 43_200_000, 86_400_000,
    172_800_000, 604_800_000, 2_592_000_000,
]


def parse_duration(text: str) -> int:
    """Milliseconds of ``<number><unit>`` with unit ms, s, m, h, d or w."""
    m = _DURATION.match(text)
    if not m:
        raise QueryError(f"{text!r} is not a duration: use 500ms, 10s, 5m, 1h, 1d or 1w")
    ms = int(m.group(1)) * _UNITS[m.group(2)]
    if ms > MAX_QUERY_MS:
        raise QueryError(f"{text!r} is longer than any query range (230 years)")
    return ms


#: Accepted query times: 1970-01-01 .. 2200-01-01 UTC.
MAX_QUERY_MS = 7_258_118_400_000


def parse_time(text: str, now_ms: int) -> int:
    """UTC ms from epoch milliseconds, ISO 8601 (UTC when no offset), ``now`` or ``-<duration>``;
    between 1970 and 2200."""
    ms = _parse_time(text, now_ms)
    if not 0 <= ms <= MAX_QUERY_MS:
        raise QueryError(f"{text!r} is outside 1970-01-01..2200-01-01 UTC")
    return ms


def _parse_time(text: str, now_ms: int) -> int:
    """The query syntax (``now``, ``-1h``, bare epoch milliseconds) here; an absolute ISO time
    goes to the one parser, :func:`firmware_protocol.timestamps.parse_iso`."""
    t = text.strip()
    if t == "now":
        return now_ms
    if t.startswith("now-") or t.startswith("-"):
        return now_ms - parse_duration(t.removeprefix("now").removeprefix("-"))
    if re.fullmatch(r"\d{1,15}", t):
        return int(t)
    try:
        return parse_iso(t)
    except TimestampError:
        raise QueryError(f"{text!r} is not a time; use epoch milliseconds, ISO 8601, "
                         "'now' or '-1h'") from None


def auto_every(span_ms: int, budget: int) -> int:
    """The shortest readable bucket width that keeps ``span_ms`` within ``budget`` buckets."""
    need = -(-span_ms // budget)  # ceil
    for every in NICE_EVERY_MS:
        if every >= need:
            return every
    return need
