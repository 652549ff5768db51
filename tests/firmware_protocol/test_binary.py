"""Binary frame v1 specifics: size, value encodings, evolution, and error locations."""

from __future__ import annotations

import struct
from collections.abc import Callable

import pytest

from firmware_protocol.codecs import BinaryCodec, JsonCodec
from firmware_protocol.codecs._binary_records import decimal_parts
from firmware_protocol.codecs.binary import MAX_FRAME_BYTES, crc16
from firmware_protocol.errors import (
    BadField,
    ChecksumError,
    EncodeError,
    FrameTooLarge,
    MalformedPayload,
    TruncatedFrame,
    UnsupportedVersion,
)
from firmware_protocol.model import Message, Quality, Reading

CODEC = BinaryCodec()
FIVE = Message(
    device="pump-7",
    seq=42,
    ts_ms=1_700_000_000_123,
    readings=(
        Reading("temperature", 21.5, unit="Cel"),
        Reading("humidity", 40.2, unit="%RH"),
        Reading("pressure", 1013.25, unit="hPa"),
        Reading("battery", 3.71, unit="V"),
        Reading("door_open", True),
    ),
)


def resign(frame: bytes | bytearray) -> bytes:
    """``frame`` with its CRC trailer recomputed (to reach the parser past the checksum)."""
    body = bytes(frame[:-2])
    return body + crc16(body).to_bytes(2, "little")


def test_five_readings_are_at_most_35_percent_of_json() -> None:
    binary, text = CODEC.encode(FIVE), JsonCodec().encode(FIVE)
    assert len(binary) <= 0.35 * len(text), (len(binary), len(text))


def test_crc_parameters_match_the_catalogue_check_value() -> None:
    assert crc16(b"123456789") == 0x29B1  # CRC-16/CCITT-FALSE check value


@pytest.mark.parametrize(
    ("value", "kind", "size"),
    [
        (21.5, 1, 4),  # exact in f32
        (3.7, 6, 5),  # decimal 37e-1
        (0.1 + 0.2, 2, 8),  # needs all 53 bits
        (1e300, 2, 8),  # out of f32 range, 1 digit but exponent > 127
        (-0.0, 1, 4),
        (7, 3, 4),
        (2**40, 4, 8),
        (True, 5, 1),
    ],
)
def test_encoder_picks_the_smallest_exact_value_type(value: float, kind: int, size: int) -> None:
    frame = CODEC.encode(Message("d", 1, 1_700_000_000_000, (Reading("s", value),)))
    rtype, length = frame[16], frame[17]
    assert (rtype & 0x0F, length - 1) == (kind, size)
    decoded = CODEC.decode(frame).readings[0].value
    assert decoded == value and type(decoded) is type(value)
    assert str(decoded) == str(value)  # keeps the sign of -0.0 too


def test_decimal_parts_are_normalised() -> None:
    assert decimal_parts(1500.0) == (15, 2)
    assert decimal_parts(-0.001) == (-1, -3)
    assert decimal_parts(1.2345678901) is None  # mantissa over 32 bits


def test_optional_parts_round_trip() -> None:
    msg = Message("d", 1, 1_700_000_000_000, (
        Reading("a", 1.5, unit="furlongs", offset_ms=-2_000, quality=Quality.ESTIMATED | 0x80),
        Reading("b", 2, unit="Cel", offset_ms=2**31 - 1),
    ), site="plant-ä")
    assert CODEC.decode(CODEC.encode(msg)) == msg


def test_unknown_record_types_are_skipped_by_length() -> None:
    frame = bytearray(CODEC.encode(FIVE))
    # a future record (type 0x87, reserved bit set) and an unknown kind (0x0F), before the CRC
    future = bytes([0x87, 3, 1, 2, 3, 0x0F, 0])
    extended = resign(frame[:-2] + future + b"\0\0")
    assert CODEC.decode(extended) == FIVE


def test_unknown_unit_code_is_a_bad_field() -> None:
    frame = bytearray(CODEC.encode(FIVE))
    assert frame[21:23] == bytes([0x11, 16]) and frame[27] == 0x80 | 23  # f32 + unit Cel
    frame[27] = 0xFF
    with pytest.raises(BadField, match=r"readings\[0\]\.unit: unknown unit code 127 at byte 27"):
        CODEC.decode(resign(frame))


@pytest.mark.parametrize(
    ("mutate", "error", "where"),
    [
        (lambda f: b"XX" + f[2:], MalformedPayload, "byte 0"),
        (lambda f: f[:2] + b"\x02" + f[3:], UnsupportedVersion, "byte 2"),
        (lambda f: f[:-1] + bytes([f[-1] ^ 1]), ChecksumError, "byte 97"),
        (lambda f: resign(f[:3] + b"\x80" + f[4:]), BadField, "byte 3"),
        (lambda f: resign(f[:4] + b"\xf0" + f[5:]), TruncatedFrame, "240 bytes at byte 4"),
        (lambda f: resign(f[:22] + b"\xf0" + f[23:]), TruncatedFrame, "record at byte 21"),
        (lambda f: resign(f[:22] + b"\x04" + f[23:]), TruncatedFrame, "unit at byte 27"),
        (lambda f: f[:10], TruncatedFrame, "10 bytes"),
        (lambda f: b"I", TruncatedFrame, "1 bytes"),
    ],
    ids=["magic", "version", "crc", "flags", "device-len", "record-len", "short-record", "short",
         "one-byte"],
)
def test_errors_say_what_and_where(
    mutate: Callable[[bytes], bytes], error: type[Exception], where: str
) -> None:
    with pytest.raises(error, match=where):
        CODEC.decode(mutate(CODEC.encode(FIVE)))


def test_bad_utf8_and_bad_bool_name_the_field() -> None:
    frame = bytearray(CODEC.encode(Message("d", 1, 1_700_000_000_000, (Reading("ab", True),))))
    frame[-3] = 0xFF  # last byte of the sensor name
    with pytest.raises(BadField, match=r"readings\[0\]\.sensor: invalid UTF-8 at byte 20"):
        CODEC.decode(resign(frame))
    frame = bytearray(CODEC.encode(Message("d", 1, 1_700_000_000_000, (Reading("ab", True),))))
    frame[18] = 2
    with pytest.raises(BadField, match=r"readings\[0\]\.value: bool byte 2 at byte 18"):
        CODEC.decode(resign(frame))


def test_frame_size_limits() -> None:
    with pytest.raises(FrameTooLarge, match=str(MAX_FRAME_BYTES)):
        CODEC.decode(b"IG\x01" + bytes(MAX_FRAME_BYTES))
    big = Message("d", 1, 1_700_000_000_000,
                  tuple(Reading(f"sensor-{i:03d}-{'x' * 40}", 0.1 + i) for i in range(100)))
    with pytest.raises(EncodeError, match="limit is 4096"):
        CODEC.encode(big)


def test_header_layout_is_little_endian() -> None:
    frame = CODEC.encode(FIVE)
    assert frame[:4] == b"IG\x01\x00"
    assert frame[4] == 6 and frame[5:11] == b"pump-7"
    seq, lo, hi = struct.unpack_from("<IIH", frame, 11)
    assert (seq, lo | hi << 32) == (42, 1_700_000_000_123)
