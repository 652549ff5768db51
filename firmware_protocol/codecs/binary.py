"""Binary frame v1: the compact little-endian encoding for microcontroller firmware.

Layout (SPEC.md has the byte tables)::

    "IG" | version=1 | flags | device_len device | [site_len site] | seq u32 | ts u48 |
    records... | crc16 (CRC-16/CCITT-FALSE over everything before it)

Each record is ``type u8 | len u8 | payload``; a decoder skips record types it does not know
by their length, so newer firmware does not break older gateways.
"""

from __future__ import annotations

import binascii
import struct

from firmware_protocol.codec import DecodeContext
from firmware_protocol.codecs import _binary_records as rec
from firmware_protocol.codecs._common import check_size, finish
from firmware_protocol.errors import (
    BadField,
    ChecksumError,
    EncodeError,
    MalformedPayload,
    TruncatedFrame,
    UnsupportedVersion,
)
from firmware_protocol.model import Message, Reading, validate_message

MAGIC = b"IG"
VERSION = 1
#: Largest frame (bytes, CRC included) an encoder may produce and a decoder accepts.
MAX_FRAME_BYTES = 4096
#: Frame flag: a site string follows the device id.
FLAG_SITE = 0x01
_KNOWN_FLAGS = FLAG_SITE
#: Smallest possible frame: header with a 1-byte device, one 1-byte-name bool record, CRC.
MIN_FRAME_BYTES = 2 + 1 + 1 + 2 + 4 + 6 + 4 + 2

_SEQ_TS = struct.Struct("<IIH")  # seq, ts low 32 bits, ts high 16 bits


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final xor).

    >>> hex(crc16(b"123456789"))
    '0x29b1'
    """
    return binascii.crc_hqx(data, 0xFFFF)


class BinaryCodec:
    """Encode and decode binary frame v1.

    >>> from firmware_protocol.model import Message, Reading
    >>> codec = BinaryCodec()
    >>> msg = Message("pump-7", 42, 1_700_000_000_000, (Reading("temperature", 21.5, "Cel"),))
    >>> frame = codec.encode(msg)
    >>> frame[:21].hex(" ")  # magic, version, flags, device, seq, ts
    '49 47 01 00 06 70 75 6d 70 2d 37 2a 00 00 00 00 68 e5 cf 8b 01'
    >>> frame[21:].hex(" ")  # one f32 record with a unit code, then the CRC
    '11 10 00 00 ac 41 97 74 65 6d 70 65 72 61 74 75 72 65 4a 24'
    >>> codec.decode(frame) == msg
    True
    >>> try:
    ...     codec.decode(frame[:-1])
    ... except ChecksumError as exc:
    ...     print(exc)
    binary: CRC 0x4a65 in the trailer at byte 38, computed 0x6f85
    """

    name = "binary"
    content_type = "application/vnd.iotgw.frame.v1"

    def encode(self, msg: Message) -> bytes:
        """The frame for ``msg``; raises :class:`EncodeError` if invalid or over the size limit."""
        try:
            validate_message(msg)
        except BadField as exc:
            raise EncodeError(f"binary: {exc}") from exc
        out = bytearray(MAGIC)
        out.append(VERSION)
        out.append(FLAG_SITE if msg.site is not None else 0)
        _put_str(out, msg.device)
        if msg.site is not None:
            _put_str(out, msg.site)
        out += _SEQ_TS.pack(msg.seq, msg.ts_ms & 0xFFFFFFFF, msg.ts_ms >> 32)
        for reading in msg.readings:
            rec.encode_reading(out, reading)
        out += crc16(bytes(out)).to_bytes(2, "little")
        if len(out) > MAX_FRAME_BYTES:
            raise EncodeError(f"binary: frame is {len(out)} bytes, the limit is {MAX_FRAME_BYTES}")
        return bytes(out)

    def decode(self, data: bytes, context: DecodeContext | None = None) -> Message:
        """The message in ``data``; raises only :class:`~firmware_protocol.errors.DecodeError`."""
        data = check_size(data, MAX_FRAME_BYTES, "binary")
        _check_envelope(data)
        end = len(data) - 2
        device, pos = _get_str(data, 4, end, "device")
        site = None
        if data[3] & FLAG_SITE:
            site, pos = _get_str(data, pos, end, "site")
        if pos + _SEQ_TS.size > end:
            raise TruncatedFrame(f"binary: seq/ts at byte {pos} run past the records end {end}")
        seq, ts_lo, ts_hi = _SEQ_TS.unpack_from(data, pos)
        readings: list[Reading] = []
        pos += _SEQ_TS.size
        while pos < end:
            reading, pos = rec.decode_record(data, pos, end, len(readings))
            if reading is not None:
                readings.append(reading)
        msg = Message(device, seq, ts_lo | ts_hi << 32, tuple(readings), site=site)
        return finish(msg, context)


def _check_envelope(data: bytes) -> None:
    """Magic, version, minimum length, CRC and flags: everything before the fields."""
    if data[:2] != MAGIC[: len(data)] or not data:
        raise MalformedPayload(f"binary: bad magic {data[:2].hex()!r} at byte 0; expected 4947")
    if len(data) < 3:
        raise TruncatedFrame(f"binary: {len(data)} bytes end inside the header")
    if data[2] != VERSION:
        raise UnsupportedVersion(f"binary: version {data[2]} at byte 2; this reads {VERSION}")
    if len(data) < MIN_FRAME_BYTES:
        raise TruncatedFrame(f"binary: {len(data)} bytes; a frame has at least {MIN_FRAME_BYTES}")
    stored = int.from_bytes(data[-2:], "little")
    computed = crc16(data[:-2])
    if stored != computed:
        raise ChecksumError(
            f"binary: CRC {stored:#06x} in the trailer at byte {len(data) - 2}, "
            f"computed {computed:#06x}"
        )
    if data[3] & ~_KNOWN_FLAGS:
        raise BadField("flags", f"reserved bits {data[3] & ~_KNOWN_FLAGS:#04x} set at byte 3")


def _put_str(out: bytearray, text: str) -> None:
    raw = text.encode()
    if len(raw) > 255:
        raise EncodeError(f"binary: {text[:16]!r}... is {len(raw)} bytes of UTF-8, limit 255")
    out.append(len(raw))
    out += raw


def _get_str(data: bytes, pos: int, end: int, field: str) -> tuple[str, int]:
    """A length-prefixed UTF-8 string at ``pos``; returns it and the position after it."""
    size = data[pos]
    if pos + 1 + size > end:
        raise TruncatedFrame(
            f"binary: {field} of {size} bytes at byte {pos} runs past the records end {end}"
        )
    return rec.utf8(data[pos + 1 : pos + 1 + size], field, pos + 1), pos + 1 + size
