"""A fast path for encoding the messages the simulator builds itself (decision 63).

A codec's ``encode`` validates the whole message each time (names, units, every limit of the
model), which was about a third of the simulator's CPU. The simulator's messages have a fixed
shape per device (device, site, sensors and units in one order), so a :class:`DeviceEncoder`
validates that shape **once**, by encoding a sample message through the real codec, and then
only checks what changes per message (``seq``, the timestamp's range, that every value is a
finite float) before filling a template. The bytes are identical to ``codec.encode``'s (a test
compares them over thousands of messages); anything the template does not cover (another
format, a value of another type, an out-of-range timestamp) goes through ``codec.encode``, so
errors and malformed-fault payloads are exactly what they were.

>>> from firmware_protocol.codecs import get_codec
>>> from firmware_protocol.model import Message, Reading
>>> codec = get_codec("json")
>>> enc = DeviceEncoder(codec, "pump-7", "site-1", (("temperature", "Cel"),))
>>> msg = Message("pump-7", 3, 1_700_000_000_000, (Reading("temperature", 21.5, "Cel"),), "site-1")
>>> enc.encode(msg.seq, msg.ts_ms, (21.5,)) == codec.encode(msg)
True
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Callable, Sequence

from firmware_protocol.codec import Codec
from firmware_protocol.codecs import _binary_records as rec
from firmware_protocol.codecs._units import UNIT_INDEX
from firmware_protocol.codecs.binary import FLAG_SITE, MAGIC, MAX_FRAME_BYTES, VERSION, crc16
from firmware_protocol.errors import EncodeError
from firmware_protocol.model import MAX_SEQ, MAX_TS_MS, MIN_TS_MS, Message, Reading

#: (sensor, unit) of each reading, in message order.
Shape = Sequence[tuple[str, str | None]]
_Fill = Callable[[int, int, tuple[float, ...]], bytes]

_MAX_VALUE_BYTES = 8  # the largest value body (f64); bounds the frame size once per shape
_F32, _F64, _DEC = struct.Struct("<f"), struct.Struct("<d"), struct.Struct("<ib")
_SEQ_TS = struct.Struct("<IIH")  # seq, ts low 32 bits, ts high 16 bits


def _dumps(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


class DeviceEncoder:
    """Encodes one device's messages of a fixed shape; ``None`` from :meth:`encode` means
    "use the codec" (the caller then calls ``codec.encode`` and gets its exact behaviour)."""

    def __init__(self, codec: Codec, device: str, site: str | None, shape: Shape) -> None:
        self.codec = codec
        self.shape = tuple(shape)
        self._fill: _Fill | None = None
        sample = Message(device, 0, MIN_TS_MS, tuple(Reading(s, 1.5, unit=u) for s, u in shape),
                         site=site)
        try:
            codec.encode(sample)  # the whole shape validated here, once
        except EncodeError:  # an invalid shape: no fast path, the codec says what is wrong
            return
        if codec.name == "json":
            self._fill = _json_fill(device, site, self.shape)
        elif codec.name == "binary":
            self._fill = _binary_fill(device, site, self.shape)

    @property
    def fast(self) -> bool:
        """Whether this shape has a template (else :meth:`encode` always returns ``None``)."""
        return self._fill is not None

    def encode(self, seq: int, ts_ms: int, values: tuple[float, ...]) -> bytes | None:
        """The payload, byte-identical to ``codec.encode``; ``None`` when the template does not
        apply to these values (the caller falls back to the codec)."""
        fill = self._fill
        if fill is None or not 0 <= seq <= MAX_SEQ or not MIN_TS_MS <= ts_ms <= MAX_TS_MS:
            return None
        for v in values:
            if type(v) is not float or not math.isfinite(v):
                return None
        return fill(seq, ts_ms, values)


def _json_fill(device: str, site: str | None, shape: tuple[tuple[str, str | None], ...]) -> _Fill:
    head = '{"device":' + _dumps(device)
    if site is not None:
        head += ',"site":' + _dumps(site)
    head += ',"seq":'
    parts = tuple(
        ('{"sensor":' + _dumps(s) + ',"value":', "}" if u is None else ',"unit":' + _dumps(u) + "}")
        for s, u in shape
    )

    def fill(seq: int, ts_ms: int, values: tuple[float, ...]) -> bytes:
        body = ",".join([p + repr(v) + t for (p, t), v in zip(parts, values, strict=True)])
        return f'{head}{seq},"ts":{ts_ms},"readings":[{body}]}}'.encode()

    return fill


#: float_kind's answers by value: a simulated sensor's values, rounded to its precision, repeat
#: (a few thousand distinct ones per sensor), and the answer costs ~4 us to work out.
_KINDS: dict[float, tuple[int, bytes]] = {}
_KINDS_MAX = 65536


def float_kind(value: float) -> tuple[int, bytes]:
    """What ``value_kind`` of the binary codec returns for a finite float, without
    :mod:`decimal` in the common case (the shortest ``repr`` read as mantissa and exponent)."""
    known = _KINDS.get(value)
    if known is None or value == 0.0:  # 0.0 and -0.0 are one key, two encodings
        known = _float_kind(value)
        if len(_KINDS) >= _KINDS_MAX:
            _KINDS.clear()
        _KINDS[value] = known
    return known


def _float_kind(value: float) -> tuple[int, bytes]:
    try:
        as32 = _F32.pack(value)
    except OverflowError:
        return rec.value_kind(value)
    if _F32.unpack(as32)[0] == value:
        return rec.KIND_F32, as32
    text = repr(value)
    if "e" in text:
        return rec.value_kind(value)
    whole, _, frac = text.partition(".")
    mantissa, exp = int(whole + frac), -len(frac)
    while mantissa and mantissa % 10 == 0:
        mantissa //= 10
        exp += 1
    if (-(2**31) <= mantissa < 2**31 and -128 <= exp <= 127
            and rec.decimal_value(mantissa, exp) == value):
        return rec.KIND_DEC, _DEC.pack(mantissa, exp)
    return rec.KIND_F64, _F64.pack(value)


def _binary_fill(device: str, site: str | None,
                 shape: tuple[tuple[str, str | None], ...]) -> _Fill | None:
    head = bytearray(MAGIC)
    head.append(VERSION)
    head.append(FLAG_SITE if site is not None else 0)
    for text in (device, site):
        if text is not None:
            raw = text.encode()
            head.append(len(raw))
            head += raw
    tails: list[tuple[int, bytes]] = []
    for sensor, unit in shape:
        flag, tail = 0, b""
        if unit is not None:
            flag = rec.HAS_UNIT
            code = UNIT_INDEX.get(unit)
            raw = unit.encode()
            tail = bytes([0x80 | code]) if code is not None else bytes([len(raw)]) + raw
        tails.append((flag, tail + sensor.encode()))
    biggest = len(head) + 10 + sum(2 + _MAX_VALUE_BYTES + len(t) for _f, t in tails) + 2
    if biggest > MAX_FRAME_BYTES:
        return None  # let the codec decide frame by frame
    prefix = bytes(head)
    seq_ts = _SEQ_TS

    def fill(seq: int, ts_ms: int, values: tuple[float, ...]) -> bytes:
        out = bytearray(prefix)
        out += seq_ts.pack(seq, ts_ms & 0xFFFFFFFF, ts_ms >> 32)
        for (flag, tail), v in zip(tails, values, strict=True):
            kind, body = float_kind(v)
            out.append(kind | flag)
            out.append(len(body) + len(tail))
            out += body
            out += tail
        out += crc16(bytes(out)).to_bytes(2, "little")
        return bytes(out)

    return fill
