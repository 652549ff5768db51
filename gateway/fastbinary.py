"""The binary codec's common case in one pass: the same answers as the full path, less work.

The full path (:func:`gateway.decoding.decode`) decodes a frame into a
:class:`~firmware_protocol.model.Message` of frozen dataclasses, validates it, checks its
names against the ingest contract, then writes the readings out as the contract's JSON
entries. For a frame that is plainly valid, :func:`fast_binary` does all of that in one pass
with :mod:`struct`, the way :mod:`gateway.fastjson` does for JSON.

It decides **acceptances only**: anything it is not sure about (a bad CRC, reserved flag bits,
another version, a record type it does not know, a bool byte other than 0 or 1, a unit code
out of the table, a value that is not finite, a name that is not valid, a repeated sensor)
returns ``None`` and the caller takes the full path, which gives the exact rejection reason
(or, for a record type it skips, may still accept). ``tests/gateway/test_fastbinary.py``
checks that what it accepts, the full path accepts with the same output.

Everything in a record after its value (unit, offset, quality, sensor name) is a function of
the record's flag bits and those bytes alone, and repeats from message to message: it is
decoded and checked once per distinct tail and remembered.

>>> from firmware_protocol.codecs import get_codec
>>> from firmware_protocol.model import Message, Reading
>>> frame = get_codec("binary").encode(
...     Message("pump-7", 3, 1_700_000_000_000, (Reading("t", 2.5, "Cel"),)))
>>> r = fast_binary(frame, "pump-7", "s1", keep=True)
>>> r.device, r.readings
('pump-7', 1)
>>> print(r.body.replace(',"seq"', '\\n,"seq"'))
{"device":"pump-7","sensor":"t","ts":1700000000000,"value":2.5
,"seq":3,"unit":"Cel","site":"s1"}
>>> r.scoring
ToScore(site='s1', first_ts=1700000000000, values=(('t', 1700000000000, 2.5),))
>>> fast_binary(frame[:-1] + b"x", "pump-7", "s1", keep=False) is None  # bad CRC: full path
True
"""

from __future__ import annotations

import math
import struct

from firmware_protocol.codecs._binary_records import (
    HAS_OFFSET,
    HAS_QUALITY,
    HAS_UNIT,
    decimal_value,
)
from firmware_protocol.codecs._units import UNIT_CODES
from firmware_protocol.codecs.binary import MAX_FRAME_BYTES, MIN_FRAME_BYTES, crc16
from firmware_protocol.model import (
    MAX_NAME_LEN,
    MAX_OFFSET_MS,
    MAX_READINGS,
    MAX_TS_MS,
    MAX_UNIT_LEN,
    MIN_TS_MS,
)
from gateway.decoded import Decoded, ToScore
from gateway.fastcommon import CACHE_MAX, NAMES, UNITS, framing, settle, valid
from ingest_protocol.encode import json_string

#: What a record's tail (the bytes after its value) says: sensor, offset and the JSON the unit
#: and quality add to its entry; ``None`` for a tail the full path must judge.
Tail = tuple[str, int, str] | None

_isfinite = math.isfinite
_SEQ_TS = struct.Struct("<IIH")
_I32 = struct.Struct("<i")
#: Value kind (type byte bits 0-3) -> (size in bytes, unpacker); kinds 1-6 are known.
_KINDS: dict[int, tuple[int, struct.Struct]] = {
    1: (4, struct.Struct("<f")), 2: (8, struct.Struct("<d")), 3: (4, struct.Struct("<i")),
    4: (8, struct.Struct("<q")), 5: (1, struct.Struct("<B")), 6: (5, struct.Struct("<ib")),
}
_KIND_BOOL, _KIND_DEC = 5, 6
#: Frame starts (magic, version 1, flags) this path reads: no site, or a site.
_PLAIN, _WITH_SITE = b"IG\x01\x00", b"IG\x01\x01"
#: One memo of tails per combination of the unit/offset/quality bits (type byte bits 4-6).
_TAILS: list[dict[bytes, Tail]] = [{} for _ in range(8)]
#: Raw device/site strings -> the name, or None when not valid UTF-8 / not a valid name.
_RAW_NAMES: dict[bytes, str | None] = {}


def fast_binary(payload: bytes, device_tag: str | None, site_tag: str | None,
                keep: bool) -> Decoded | None:
    """``payload`` decoded as the binary codec would in a topic naming ``device_tag`` and
    ``site_tag``, or ``None`` when the full path must decide (it may still accept)."""
    head = _header(payload, device_tag, site_tag)
    if head is None:
        return None
    device, site, seq, ts, pos = head
    prefix, seq_text, site_text = framing(device, site, seq)
    end = len(payload) - 2
    parts: list[str] = []
    values: list[tuple[str, int, float]] = []
    seen: set[tuple[str, int]] = set()
    first_offset = 0
    while pos < end:
        if pos + 2 > end:
            return None
        rtype = payload[pos]
        start = pos + 2
        pos = start + payload[pos + 1]
        known = None if pos > end or rtype & 0x80 else _KINDS.get(rtype & 0x0F)
        if known is None:  # past the end, or a type the full path skips or refuses
            return None
        size, unpack = known
        tails = _TAILS[rtype >> 4]
        raw = payload[start + size:pos]
        try:  # not ``raw in tails`` then ``tails[raw]``: a clear in between would raise
            tail = tails[raw]
        except KeyError:
            tail = _tail(rtype, raw, tails)
        if tail is None:
            return None
        sensor, offset, extra = tail
        value = _value(rtype & 0x0F, unpack, payload, start)
        if value is None:
            return None
        rts = ts + offset
        if type(value) is bool:
            text = "true" if value else "false"
        else:
            text = repr(value)
            if keep:
                values.append((sensor, rts, float(value)))
        if not MIN_TS_MS <= rts <= MAX_TS_MS or (sensor, rts) in seen:
            return None
        if not seen:
            first_offset = offset
        seen.add((sensor, rts))
        parts.append(f'{prefix}{json_string(sensor)},"ts":{rts},"value":{text}{seq_text}'
                     f'{extra}{site_text}')
    if not 1 <= len(parts) <= MAX_READINGS:
        return None
    scoring = ToScore(site, ts + first_offset, tuple(values)) if keep else None
    return Decoded(device, seq, ts, len(parts), ",".join(parts), scoring)


def _value(kind: int, unpack: struct.Struct, payload: bytes,
           start: int) -> float | int | bool | None:
    """The value at ``start``, or None where the codec or the model refuses it (a bool byte
    above 1, a float that is not finite)."""
    if kind == _KIND_DEC:
        mantissa, exp = unpack.unpack_from(payload, start)
        # Cannot overflow (the codec's BadField case): |i32| * 10**127 < 1e137.
        return decimal_value(mantissa, exp)
    value: float | int = unpack.unpack_from(payload, start)[0]
    if kind == _KIND_BOOL:
        return None if value > 1 else value == 1
    return value if _isfinite(value) else None


def _header(payload: bytes, device_tag: str | None,
            site_tag: str | None) -> tuple[str, str | None, int, int, int] | None:
    """Device, site, seq, ts and where the records start, or None: the envelope (size, magic,
    version, flags, CRC) and the fields before the records, as the codec reads them."""
    if type(payload) is not bytes or not MIN_FRAME_BYTES <= len(payload) <= MAX_FRAME_BYTES:
        return None
    lead = payload[:4]
    if lead != _PLAIN and lead != _WITH_SITE:
        return None
    if crc16(payload[:-2]) != int.from_bytes(payload[-2:], "little"):
        return None
    end = len(payload) - 2
    pos = 5 + payload[4]
    if pos > end:
        return None
    device = _raw_name(payload[5:pos]) if pos > 5 else ""
    site = None
    if lead == _WITH_SITE:
        if pos >= end or pos + 1 + payload[pos] > end:
            return None
        site = _raw_name(payload[pos + 1 : pos + 1 + payload[pos]])
        pos += 1 + payload[pos]
    if device is None or (lead == _WITH_SITE and site is None) or pos + _SEQ_TS.size > end:
        return None
    names = settle(device, site, device_tag, site_tag)
    if names is None:
        return None
    seq, ts_lo, ts_hi = _SEQ_TS.unpack_from(payload, pos)
    return names[0], names[1], seq, ts_lo | ts_hi << 32, pos + _SEQ_TS.size


def _raw_name(raw: bytes) -> str | None:
    """The device or site name in ``raw``, or None if not UTF-8 or not a valid name."""
    try:
        return _RAW_NAMES[raw]
    except KeyError:
        pass
    try:
        name: str | None = raw.decode("utf-8")
    except UnicodeDecodeError:
        name = None
    if name is not None and not valid(name, NAMES, MAX_NAME_LEN):
        name = None
    if len(_RAW_NAMES) >= CACHE_MAX:
        _RAW_NAMES.clear()
    _RAW_NAMES[raw] = name
    return name


def _tail(rtype: int, raw: bytes, tails: dict[bytes, Tail]) -> Tail:
    """:func:`_read_tail`, remembered in ``tails`` (the memo of ``rtype``'s flag bits)."""
    tail = _read_tail(rtype, raw)
    if len(tails) >= CACHE_MAX:
        tails.clear()
    tails[raw] = tail
    return tail


def _read_tail(rtype: int, raw: bytes) -> Tail:
    """Unit, offset, quality and sensor after a record's value, as the codec reads and the
    model validates them, or None."""
    p, stop, extra = 0, len(raw), ""
    if rtype & HAS_UNIT:
        if stop < 1:
            return None
        unit, p = _unit(raw)
        if unit is None or not valid(unit, UNITS, MAX_UNIT_LEN):
            return None
        extra = f',"unit":{json_string(unit)}'
    offset = 0
    if rtype & HAS_OFFSET:
        if p + 4 > stop:
            return None
        offset = _I32.unpack_from(raw, p)[0]
        p += 4
        if offset < -MAX_OFFSET_MS:  # i32's minimum is one past the model's range
            return None
    if rtype & HAS_QUALITY:
        if p + 1 > stop:
            return None
        if raw[p]:
            extra += f',"quality":{raw[p]}'
        p += 1
    if p >= stop:
        return None
    try:
        sensor = raw[p:].decode("utf-8")
    except UnicodeDecodeError:
        return None
    return (sensor, offset, extra) if valid(sensor, NAMES, MAX_NAME_LEN) else None


def _unit(raw: bytes) -> tuple[str | None, int]:
    """The unit at the start of ``raw`` (non-empty) and the position after it; None if the
    codec refuses it (a code out of the table, an empty or truncated or non-UTF-8 string)."""
    head = raw[0]
    if head & 0x80:
        code = head & 0x7F
        return (UNIT_CODES[code] if code < len(UNIT_CODES) else None), 1
    if head == 0 or 1 + head > len(raw):
        return None, 0
    try:
        return raw[1 : 1 + head].decode("utf-8"), 1 + head
    except UnicodeDecodeError:
        return None, 0
