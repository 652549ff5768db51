"""The one timestamp parser: CSV cells, ISO 8601 and Unix epochs to UTC milliseconds.

Every command that reads a time from text uses it (``iotgw detect``, ``iotgw sim replay``,
``iotgw sim run --start``, the cloud's query parameters), so the same text is the same
millisecond everywhere.

Accepted forms:

- ISO 8601 as Python reads it (``2014-04-01 00:05:00``, ``2014-04-01T00:05:00.250Z``,
  ``...+02:00``); no zone means UTC;
- a Unix epoch number: milliseconds when its magnitude is at least ``1e11`` (a seconds value
  that large is beyond the year 5000), otherwise seconds; fractions are allowed.

**The rule: the exact value is rounded half to even to whole milliseconds.** Numbers are read as
decimals, not binary floats, and ISO times as integer microseconds, so no representation error
can move a time across a millisecond boundary (``float("1396310700.001") * 1000`` is
``1396310700000.9998``, which truncation turns into the wrong millisecond). Rounding to the
nearest millisecond is the smallest possible error; half to even is unbiased and is the rule
Python's own ``datetime`` uses when it rounds to microseconds.

>>> parse_timestamp("2014-04-01 00:05:00")
1396310700000
>>> parse_timestamp("1396310700"), parse_timestamp("1396310700000")
(1396310700000, 1396310700000)
>>> parse_timestamp("1396310700.001"), parse_timestamp("2014-04-01T00:05:00.0015Z")
(1396310700001, 1396310700002)
>>> parse_timestamp("2014-04-01T00:05:00.0025+00:00"), parse_timestamp("0.0005")
(1396310700002, 0)
>>> parse_timestamp("yesterday")
Traceback (most recent call last):
...
firmware_protocol.errors.TimestampError: 'yesterday' is not an ISO 8601 time or a Unix epoch
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from firmware_protocol.errors import TimestampError

__all__ = ["EPOCH_MS_THRESHOLD", "datetime_to_ms", "parse_iso", "parse_timestamp"]

#: Epoch numbers at least this large (in magnitude) are milliseconds, smaller ones seconds.
EPOCH_MS_THRESHOLD = Decimal("1e11")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def datetime_to_ms(moment: datetime) -> int:
    """UTC milliseconds of ``moment`` (UTC when naive), rounded half to even."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - _EPOCH
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    ms, rest = divmod(micros, 1000)
    if rest > 500 or (rest == 500 and ms % 2 == 1):
        ms += 1
    return ms


def parse_iso(text: str) -> int:
    """UTC milliseconds of an ISO 8601 time (UTC when no zone); :class:`TimestampError`."""
    try:
        return datetime_to_ms(datetime.fromisoformat(text.strip()))
    except ValueError:
        raise TimestampError(f"{text!r} is not an ISO 8601 time") from None


def parse_timestamp(text: str) -> int:
    """UTC milliseconds of an ISO 8601 time or a Unix epoch (s or ms); :class:`TimestampError`."""
    stripped = text.strip()
    try:
        number = Decimal(stripped)
    except InvalidOperation:
        try:
            return datetime_to_ms(datetime.fromisoformat(stripped))
        except ValueError:
            raise TimestampError(
                f"{text!r} is not an ISO 8601 time or a Unix epoch") from None
    if not number.is_finite():
        raise TimestampError(f"{text!r} is not an ISO 8601 time or a Unix epoch")
    ms = number if abs(number) >= EPOCH_MS_THRESHOLD else number * 1000
    return int(ms.to_integral_value(rounding=ROUND_HALF_EVEN))
