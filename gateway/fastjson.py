"""The JSON codec's common case in one pass: the same answers as the full path, less work.

The full path (:func:`gateway.decoding.decode`) builds a :class:`~firmware_protocol.model.Message`
of frozen dataclasses, validates it field by field, checks its names against the ingest
contract, then writes the readings out as the contract's JSON entries. For a payload that is
plainly valid, :func:`fast_json` does all of that in one pass over the parsed object, with each
name checked once and remembered (names repeat endlessly).

It decides **acceptances only**: anything it is not sure about (a field missing or of another
type, a value out of range, a name that is not valid, a repeated sensor) returns ``None`` and the
caller takes the full path, which gives the exact rejection reason. What it accepts, the full
path accepts too, with the same output (``tests/gateway/test_fastjson.py`` checks both on the
protocol's vectors and on mutations of them).

Parsing is msgspec's, into typed structs (a fifth of the standard library's time, and the types
come checked). Where the two parsers could disagree, the fast path steps aside: msgspec takes
invalid UTF-8 inside strings (the codec refuses the document), so a non-ASCII payload is
checked first; it nests deeper than the standard library does before a recursion error, so a
payload with many brackets goes to the full path; an explicit ``null`` for an optional field
(which the codec refuses) fails the struct's types. Duplicate keys (the last one wins), escaped
keys, integers of any size, NaN and Infinity (refused) behave alike in both.

>>> r = fast_json(b'{"seq": 3, "ts": 1700000000000, "readings": [{"sensor": "t", "value": 2.5}]}',
...               "pump-7", "s1", keep=True)
>>> r.device, r.readings, r.body
('pump-7', 1, '{"device":"pump-7","sensor":"t","ts":1700000000000,"value":2.5,"seq":3,"site":"s1"}')
>>> r.scoring
ToScore(site='s1', first_ts=1700000000000, values=(('t', 1700000000000, 2.5),))
>>> fast_json(b'{"seq": -1}', "pump-7", "s1", keep=False) is None  # the full path says why
True
"""

from __future__ import annotations

import math

import msgspec

from firmware_protocol.codecs._common import MAX_DOCUMENT_BYTES
from firmware_protocol.model import (
    INT_MAX,
    INT_MIN,
    MAX_NAME_LEN,
    MAX_OFFSET_MS,
    MAX_READINGS,
    MAX_SEQ,
    MAX_TS_MS,
    MAX_UNIT_LEN,
    MIN_TS_MS,
)
from gateway.decoded import Decoded, ToScore
from gateway.fastcommon import NAMES, UNITS, framing, settle, valid
from ingest_protocol.encode import json_string

_isfinite = math.isfinite
#: More ``[`` and ``{`` than this and the full path decides (see the nesting note above).
_MAX_BRACKETS = 256


class _Reading(msgspec.Struct):
    sensor: str
    value: bool | int | float
    unit: str | msgspec.UnsetType = msgspec.UNSET
    offset_ms: int = 0
    quality: int = 0


class _Message(msgspec.Struct):
    seq: int
    ts: int
    readings: list[_Reading]
    device: str = ""
    site: str | msgspec.UnsetType = msgspec.UNSET


_DECODER = msgspec.json.Decoder(_Message)


def fast_json(payload: bytes, device_tag: str | None, site_tag: str | None,
              keep: bool) -> Decoded | None:
    """``payload`` decoded as the JSON codec would in a topic naming ``device_tag`` and
    ``site_tag``, or ``None`` when the full path must decide (it may still accept)."""
    msg = _parse(payload)
    if msg is None:
        return None
    head = _identity(msg, device_tag, site_tag)
    if head is None:
        return None
    device, site, seq, ts = head
    items = msg.readings
    if not 1 <= len(items) <= MAX_READINGS:
        return None
    prefix, seq_text, site_text = framing(device, site, seq)
    parts: list[str] = []
    values: list[tuple[str, int, float]] = []
    seen: set[tuple[str, int]] = set()
    names = NAMES
    unset = msgspec.UNSET
    for item in items:
        sensor = item.sensor
        if names.get(sensor) is not True and not valid(sensor, names, MAX_NAME_LEN):
            return None
        value = item.value
        kind = type(value)
        if kind is float:
            if not _isfinite(value):
                return None
            text = repr(value)
        elif kind is int:
            if not INT_MIN <= value <= INT_MAX:
                return None
            text = repr(value)
        else:
            text = "true" if value else "false"
        if item.unit is unset and not item.quality and not item.offset_ms:
            rts, extra = ts, ""
        else:
            offset, extra = _optional(item)
            if offset is None:
                return None
            rts = ts + offset
        if not MIN_TS_MS <= rts <= MAX_TS_MS or (sensor, rts) in seen:
            return None
        seen.add((sensor, rts))
        parts.append(f'{prefix}{json_string(sensor)},"ts":{rts},"value":{text}{seq_text}'
                     f'{extra}{site_text}')
        if keep and kind is not bool:
            values.append((sensor, rts, float(value)))
    scoring = ToScore(site, ts + items[0].offset_ms, tuple(values)) if keep else None
    return Decoded(device, seq, ts, len(items), ",".join(parts), scoring)


def _parse(payload: bytes) -> _Message | None:
    """The typed message, or None where the codec's own parser might answer otherwise."""
    if type(payload) is not bytes or len(payload) > MAX_DOCUMENT_BYTES:
        return None
    if not payload.isascii():
        try:
            payload.decode("utf-8")
        except UnicodeDecodeError:
            return None
    if payload.count(b"[") + payload.count(b"{") > _MAX_BRACKETS:
        return None
    try:
        msg: _Message = _DECODER.decode(payload)
    except (msgspec.DecodeError, RecursionError):  # ValidationError is a DecodeError
        return None
    return msg


def _identity(msg: _Message, device_tag: str | None,
              site_tag: str | None) -> tuple[str, str | None, int, int] | None:
    """Device, site, seq and ts as the codec's ``finish`` settles them, or None."""
    names = settle(msg.device, None if msg.site is msgspec.UNSET else msg.site,
                   device_tag, site_tag)
    seq = msg.seq
    if names is None or not 0 <= seq <= MAX_SEQ:
        return None
    return names[0], names[1], seq, msg.ts


def _optional(item: _Reading) -> tuple[int | None, str]:
    """A reading's offset and the JSON it adds (unit, quality); offset None when invalid."""
    extra = ""
    unit = item.unit
    if unit is not msgspec.UNSET:
        if not valid(unit, UNITS, MAX_UNIT_LEN):
            return None, ""
        extra = f',"unit":{json_string(unit)}'
    quality = item.quality
    if not 0 <= quality <= 0xFF:
        return None, ""
    if quality:
        extra += f',"quality":{quality}'
    offset = item.offset_ms
    if not -MAX_OFFSET_MS <= offset <= MAX_OFFSET_MS:
        return None, ""
    return offset, extra
