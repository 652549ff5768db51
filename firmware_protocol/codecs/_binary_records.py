"""Reading records of binary frame v1: ``type u8 | len u8 | payload``.

The type byte: bits 0-3 the value kind, bit 4 a unit follows the value, bit 5 an offset
(i32 ms), bit 6 a quality byte; bit 7 is reserved. Any type byte this code does not know (bit 7
set, or a kind outside 1-6) is skipped by its length. Payload::

    value | [unit] | [offset i32] | [quality u8] | sensor name (the rest of the payload)

A unit is one byte: ``0x80 | code`` for a unit in the table (``_units.py``), else the length
(1-16) of the UTF-8 unit string that follows.
"""

from __future__ import annotations

import decimal
import struct

from firmware_protocol.codecs._units import UNIT_CODES, UNIT_INDEX
from firmware_protocol.errors import BadField, EncodeError, TruncatedFrame
from firmware_protocol.model import Quality, Reading, Value

KIND_F32, KIND_F64, KIND_I32, KIND_I64, KIND_BOOL, KIND_DEC = 1, 2, 3, 4, 5, 6
KIND_NAMES = {KIND_F32: "f32", KIND_F64: "f64", KIND_I32: "i32", KIND_I64: "i64",
              KIND_BOOL: "bool", KIND_DEC: "dec"}
HAS_UNIT, HAS_OFFSET, HAS_QUALITY = 0x10, 0x20, 0x40
RESERVED = 0x80

_F32 = struct.Struct("<f")
_F64 = struct.Struct("<d")
_I32 = struct.Struct("<i")
_I64 = struct.Struct("<q")
_DEC = struct.Struct("<ib")  # mantissa i32, base-10 exponent i8
_VALUE = {
    KIND_F32: _F32,
    KIND_F64: _F64,
    KIND_I32: _I32,
    KIND_I64: _I64,
    KIND_BOOL: struct.Struct("<B"),
    KIND_DEC: _DEC,
}


def decimal_parts(value: float) -> tuple[int, int] | None:
    """``(mantissa, exponent)`` with ``mantissa * 10**exponent == value`` exactly, if they fit.

    The shortest decimal that reads back as ``value`` (Python's ``repr``), trailing zeros moved
    into the exponent; ``None`` if the mantissa needs more than 32 bits or the exponent 8.

    >>> decimal_parts(3.7), decimal_parts(1500.0), decimal_parts(0.1 + 0.2)
    ((37, -1), (15, 2), None)
    """
    sign, digits, exp = decimal.Decimal(repr(value)).as_tuple()
    if not isinstance(exp, int):
        return None
    mantissa = int("".join(map(str, digits)))
    while mantissa and mantissa % 10 == 0:
        mantissa //= 10
        exp += 1
    mantissa = -mantissa if sign else mantissa
    if not -(2**31) <= mantissa < 2**31 or not -128 <= exp <= 127:
        return None
    return (mantissa, exp) if decimal_value(mantissa, exp) == value else None


def decimal_value(mantissa: int, exp: int) -> float:
    """The float nearest ``mantissa * 10**exp`` (correctly rounded, as firmware intends)."""
    if exp >= 0:
        return float(mantissa * 10**exp)
    return mantissa / 10**-exp


def value_kind(value: Value) -> tuple[int, bytes]:
    """The record kind and value bytes the encoder uses: bool, i32 if it fits else i64; for a
    float the first exact one of f32, decimal, f64."""
    if isinstance(value, bool):
        return KIND_BOOL, bytes([value])
    if isinstance(value, int):
        if -(2**31) <= value < 2**31:
            return KIND_I32, _I32.pack(value)
        return KIND_I64, _I64.pack(value)
    try:
        if _F32.unpack(_F32.pack(value))[0] == value:
            return KIND_F32, _F32.pack(value)
    except OverflowError:
        pass
    parts = decimal_parts(value)
    if parts is not None:
        return KIND_DEC, _DEC.pack(*parts)
    return KIND_F64, _F64.pack(value)


def encode_reading(out: bytearray, r: Reading) -> None:
    """Append the record for ``r`` (already validated) to ``out``."""
    kind, body = value_kind(r.value)
    payload = bytearray(body)
    if r.unit is not None:
        kind |= HAS_UNIT
        code = UNIT_INDEX.get(r.unit)
        if code is not None:
            payload.append(0x80 | code)
        else:
            raw = r.unit.encode()
            if len(raw) > 16:
                raise EncodeError(f"binary: unit {r.unit!r} is {len(raw)} bytes of UTF-8, max 16")
            payload.append(len(raw))
            payload += raw
    if r.offset_ms:
        kind |= HAS_OFFSET
        payload += _I32.pack(r.offset_ms)
    if r.quality:
        kind |= HAS_QUALITY
        payload.append(int(r.quality))
    name = r.sensor.encode()
    if len(name) > 64:
        raise EncodeError(f"binary: sensor {r.sensor[:16]!r}... is {len(name)} bytes, max 64")
    payload += name
    out.append(kind)
    out.append(len(payload))
    out += payload


def decode_record(data: bytes, pos: int, end: int, index: int) -> tuple[Reading | None, int]:
    """The record at ``pos`` (``None`` if of an unknown type) and the position after it."""
    if pos + 2 > end:
        raise TruncatedFrame(f"binary: record header at byte {pos} runs past the records end {end}")
    rtype, size = data[pos], data[pos + 1]
    start, stop = pos + 2, pos + 2 + size
    if stop > end:
        raise TruncatedFrame(
            f"binary: record at byte {pos} announces {size} bytes, only {end - start} remain"
        )
    kind = rtype & 0x0F
    if rtype & RESERVED or kind not in _VALUE:
        return None, stop
    where = f"readings[{index}]"
    fmt = _VALUE[kind]
    p = start + fmt.size
    unit = None
    if rtype & HAS_UNIT:
        unit, p = _unit(data, p, stop, where)
    offset = 0
    if rtype & HAS_OFFSET:
        _need(p + 4, stop, f"{where}.offset_ms", p)
        offset = _I32.unpack_from(data, p)[0]
        p += 4
    quality = 0
    if rtype & HAS_QUALITY:
        _need(p + 1, stop, f"{where}.quality", p)
        quality = data[p]
        p += 1
    if p >= stop:
        raise BadField(f"{where}.sensor", f"is empty in the record at byte {pos}")
    value = _value(kind, fmt.unpack_from(data, start), where, start)
    sensor = utf8(data[p:stop], f"{where}.sensor", p)
    return Reading(sensor, value, unit=unit, offset_ms=offset, quality=Quality(quality)), stop


def _value(kind: int, parts: tuple[int | float, ...], where: str, at: int) -> Value:
    if kind == KIND_BOOL:
        if parts[0] > 1:
            raise BadField(f"{where}.value", f"bool byte {parts[0]} at byte {at}; must be 0 or 1")
        return bool(parts[0])
    if kind == KIND_DEC:
        try:
            return decimal_value(int(parts[0]), int(parts[1]))
        except OverflowError:
            raise BadField(f"{where}.value", f"decimal at byte {at} overflows a float") from None
    return parts[0]


def _unit(data: bytes, p: int, stop: int, where: str) -> tuple[str, int]:
    _need(p + 1, stop, f"{where}.unit", p)
    head = data[p]
    if head & 0x80:
        code = head & 0x7F
        if code >= len(UNIT_CODES):
            raise BadField(f"{where}.unit", f"unknown unit code {code} at byte {p}")
        return UNIT_CODES[code], p + 1
    if head == 0:
        raise BadField(f"{where}.unit", f"empty unit string at byte {p}")
    _need(p + 1 + head, stop, f"{where}.unit", p)
    return utf8(data[p + 1 : p + 1 + head], f"{where}.unit", p + 1), p + 1 + head


def _need(upto: int, stop: int, field: str, at: int) -> None:
    """The field at ``at`` must end within its record (``stop``)."""
    if upto > stop:
        raise TruncatedFrame(f"binary: {field} at byte {at} runs past its record end {stop}")


def utf8(raw: bytes, field: str, at: int) -> str:
    """Decode UTF-8 or raise :class:`BadField` naming the byte offset."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadField(field, f"invalid UTF-8 at byte {at + exc.start}") from None
