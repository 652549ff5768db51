"""What decoding a payload gives: a :class:`Decoded` message or a :class:`Rejected` payload.

Plain named tuples, so results cross to and from the decode worker process cheaply.
"""

from __future__ import annotations

from typing import NamedTuple


class ToScore(NamedTuple):
    """What the scorer needs of a message: its site, the time of its first reading and its
    numeric readings as ``(sensor, ts_ms, value)`` (booleans are not scored)."""

    site: str | None
    first_ts: int
    values: tuple[tuple[str, int, float], ...]


class Decoded(NamedTuple):
    """A valid message: its identity, its readings as the ingest contract's JSON entries
    (:func:`ingest_protocol.encode.reading_objects`), and what the scorer needs when one is
    on."""

    device: str
    seq: int
    ts_ms: int
    readings: int
    body: str
    scoring: ToScore | None


class Rejected(NamedTuple):
    """A payload that cannot be used, with a stable ``reason`` code and a ``detail``."""

    codec: str
    reason: str
    detail: str


Result = Decoded | Rejected
