"""The data model every codec encodes and decodes.

A :class:`Message` is what one device sends at one moment: a sequence number, a device
timestamp and one or more :class:`Reading` objects. Timestamps are **UTC milliseconds since
the Unix epoch** (integers); a reading may carry a time offset in milliseconds from the
message timestamp (for readings sampled between two transmissions).

>>> msg = Message(device="pump-7", seq=42, ts_ms=1_700_000_000_000,
...               readings=(Reading("temperature", 21.5, unit="Cel"),
...                         Reading("running", True)))
>>> [(r.sensor, msg.reading_ts_ms(r)) for r in msg.readings]
[('temperature', 1700000000000), ('running', 1700000000000)]
>>> validate_message(msg) is msg
True
"""

from __future__ import annotations

import enum
import math
import re
from dataclasses import dataclass, field

from firmware_protocol.errors import BadField

#: A reading's value: a number or a boolean state.
Value = float | int | bool

#: Limits enforced by :func:`validate_message` (documented in SPEC.md); lengths count UTF-8 bytes.
MAX_NAME_LEN = 64
MAX_UNIT_LEN = 16
MAX_READINGS = 255
MAX_SEQ = 2**32 - 1
#: Earliest accepted device timestamp: 2000-01-01T00:00:00Z.
MIN_TS_MS = 946_684_800_000
#: Latest accepted device timestamp: 2100-01-01T00:00:00Z (clock-skew checks live in the gateway).
MAX_TS_MS = 4_102_444_800_000
_CONTROL = re.compile("[\x00-\x1f\x7f]")

#: Integer values must fit a signed 64-bit field.
INT_MIN, INT_MAX = -(2**63), 2**63 - 1
#: A reading's offset from its message timestamp fits a signed 32-bit field (about ±24.8 days).
MAX_OFFSET_MS = 2**31 - 1
#: Quality flags fit one byte; bits without a name are kept (newer firmware may define them).
MAX_QUALITY = 0xFF


class Quality(enum.IntFlag):
    """Per-reading quality flags a device may set (one byte on the wire)."""

    OK = 0
    ESTIMATED = 1  #: interpolated or estimated by the device, not measured
    SENSOR_FAULT = 2  #: the sensor reported a fault; the value may be meaningless
    OUT_OF_RANGE = 4  #: outside the sensor's rated range
    CLOCK_UNSYNCED = 8  #: the device clock was not synchronised when sampled
    CALIBRATING = 16  #: the sensor was being calibrated


@dataclass(frozen=True, slots=True)
class Reading:
    """One sensor's value within a message."""

    sensor: str
    value: Value
    unit: str | None = None
    offset_ms: int = 0
    quality: Quality = Quality.OK


@dataclass(frozen=True, slots=True)
class Message:
    """What one device sent at once: ``seq`` counts messages per device (u32, wraps)."""

    device: str
    seq: int
    ts_ms: int
    readings: tuple[Reading, ...]
    site: str | None = field(default=None, compare=True)

    def reading_ts_ms(self, reading: Reading) -> int:
        """The absolute UTC millisecond timestamp of one of this message's readings."""
        return self.ts_ms + reading.offset_ms


def _check_name(value: object, what: str, limit: int = MAX_NAME_LEN) -> None:
    if not isinstance(value, str) or not value:
        raise BadField(what, "must be a non-empty string")
    if _CONTROL.search(value):
        raise BadField(what, "contains a control character")
    try:
        size = len(value.encode("utf-8")) if not value.isascii() else len(value)
    except UnicodeEncodeError:
        raise BadField(what, "contains a lone surrogate; not valid UTF-8") from None
    if size > limit:
        raise BadField(what, f"is {size} bytes of UTF-8, the limit is {limit}")


def _check_value(value: object, what: str) -> None:
    if isinstance(value, bool):
        return
    if isinstance(value, int):
        if not INT_MIN <= value <= INT_MAX:
            raise BadField(what, "integer does not fit in 64 bits")
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise BadField(what, f"is {value!r}; only finite numbers are accepted")
        return
    raise BadField(what, f"has type {type(value).__name__}; expected float, int or bool")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def validate_message(msg: Message) -> Message:
    """Check ``msg`` against the documented limits; return it, or raise :class:`BadField`.

    The rules: names are 1-64 bytes of UTF-8 without control characters, units at most 16
    bytes, 1-255 readings,
    ``seq`` a u32, timestamps (with offsets) between 2000-01-01 and 2100-01-01 UTC, offsets
    within a signed 32-bit millisecond range, quality flags one byte, values finite, integers
    within 64 bits, and no sensor twice at the same instant in one message.
    """
    _check_name(msg.device, "device")
    if msg.site is not None:
        _check_name(msg.site, "site")
    if not _is_int(msg.seq) or not 0 <= msg.seq <= MAX_SEQ:
        raise BadField("seq", f"is {msg.seq!r}; must be an integer in 0..{MAX_SEQ}")
    if not _is_int(msg.ts_ms):
        raise BadField("ts", f"is {msg.ts_ms!r}; must be an integer (UTC milliseconds)")
    if not isinstance(msg.readings, tuple) or not 1 <= len(msg.readings) <= MAX_READINGS:
        raise BadField("readings", f"must be a tuple of 1..{MAX_READINGS} readings")
    seen: set[tuple[str, int]] = set()
    for i, r in enumerate(msg.readings):
        where = f"readings[{i}]"
        if not isinstance(r, Reading):
            raise BadField(where, f"has type {type(r).__name__}; expected Reading")
        _check_name(r.sensor, f"{where}.sensor")
        _check_value(r.value, f"{where}.value")
        if r.unit is not None:
            _check_name(r.unit, f"{where}.unit", MAX_UNIT_LEN)
        if not _is_int(r.offset_ms) or not -MAX_OFFSET_MS <= r.offset_ms <= MAX_OFFSET_MS:
            raise BadField(f"{where}.offset_ms", f"is {r.offset_ms!r}; must fit ±{MAX_OFFSET_MS}")
        if not _is_int(r.quality) or not 0 <= r.quality <= MAX_QUALITY:
            raise BadField(f"{where}.quality", f"is {r.quality!r}; must be flags in 0..255")
        ts = msg.ts_ms + r.offset_ms
        if not MIN_TS_MS <= ts <= MAX_TS_MS:
            raise BadField(f"{where}.ts", f"{ts} ms is outside 2000-01-01..2100-01-01 UTC")
        key = (r.sensor, ts)
        if key in seen:
            raise BadField(f"{where}.sensor", f"{r.sensor!r} appears twice at the same time")
        seen.add(key)
    return msg
