"""Fuzzing: random and mutated payloads (bit flips, truncations, length lies) for every codec.

The one property: decoding returns a valid message or raises a DecodeError, nothing else.
For the binary frame, mutations are also re-signed with a correct CRC so they reach the parser.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware_protocol.codec import Codec
from firmware_protocol.codecs import CODEC_NAMES, get_codec
from firmware_protocol.codecs.binary import crc16
from firmware_protocol.errors import DecodeError
from firmware_protocol.model import Message, validate_message
from tests.firmware_protocol.strategies import PROFILE, messages


def decode_or_decode_error(codec: Codec, data: bytes) -> None:
    try:
        msg = codec.decode(data)
    except DecodeError as exc:
        assert isinstance(exc.reason, str) and str(exc)
    else:
        assert validate_message(msg) is msg


def resign(frame: bytes) -> bytes:
    return frame[:-2] + crc16(frame[:-2]).to_bytes(2, "little") if len(frame) > 2 else frame


@st.composite
def mutated(draw: st.DrawFn, codec: Codec) -> bytes:
    """A valid encoding of a random message, then one or more damaging edits."""
    data = bytearray(codec.encode(draw(messages)))
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["flip", "truncate", "set", "insert", "delete"]))
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        if op == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "truncate":
            del data[at:]
        elif op == "set":  # length lies land here: any byte may become 0x00 or 0xFF
            data[at] = draw(st.sampled_from([0, 1, 0x7F, 0x80, 0xFF, draw(st.integers(0, 255))]))
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        else:
            del data[at : at + draw(st.integers(1, 8))]
    out = bytes(data)
    if codec.name == "binary" and draw(st.booleans()):
        out = resign(out)
    return out


@pytest.mark.parametrize("name", CODEC_NAMES)
@PROFILE
@given(data=st.data())
def test_mutated_payloads_raise_only_decode_error(name: str, data: st.DataObject) -> None:
    codec = get_codec(name)
    decode_or_decode_error(codec, data.draw(mutated(codec)))


@PROFILE
@given(body=st.binary(min_size=14, max_size=200))
def test_random_frames_with_valid_envelope_raise_only_decode_error(body: bytes) -> None:
    """Random bytes behind a correct magic, version and CRC exercise the record parser."""
    frame = b"IG\x01" + body
    decode_or_decode_error(get_codec("binary"), frame + crc16(frame).to_bytes(2, "little"))


@PROFILE
@given(msg=messages, cut=st.integers(0, 10_000))
def test_every_truncation_is_rejected(msg: Message, cut: int) -> None:
    for name in CODEC_NAMES:
        codec = get_codec(name)
        data = codec.encode(msg)
        short = data[: cut % len(data)]
        if name == "binary" and len(short) > 2 and resign(short) == short:
            continue  # a 1-in-65536 CRC collision: CRC-16 cannot promise to catch it
        with pytest.raises(DecodeError):
            codec.decode(short)


@pytest.mark.parametrize(
    "doc",
    [
        b'[{"n":"a","v":1e999}]',
        b'[{"n":"a","v":1,"bt":1e300}]',
        b'[{"n":"a","v":1,"t":"x"}]',
        b'[{"bn":"d:","n":"a","v":1,"bver":11}]',
        b'[{"n":"a","v":1,"x_":1}]',
        b'[{"n":"a","vs":"text"}]',
        b'[{"bn":"d:","n":"a","v":1},{"bn":"e:","n":"b","v":2}]',
        b'[{"bn":"d:","n":"a","v":1, "vb": true}]',
        b'[{"bn":"d:","bt":1e9,"n":"a","v":1,"q":999}]',
        b"[" * 50_000,
    ],
)
def test_hostile_senml_json(doc: bytes) -> None:
    with pytest.raises(DecodeError):
        get_codec("senml-json").decode(doc)


@pytest.mark.parametrize(
    "doc",
    [
        bytes.fromhex("9fff"),  # empty indefinite array
        bytes.fromhex("81a1f93c00f5"),  # float map key
        bytes.fromhex("81a2006161c11a00000000"),  # epoch datetime tag as a value
        bytes.fromhex("81a1005b7fffffffffffffff"),  # byte string length lie
        bytes.fromhex("81") * 20_000,  # deep nesting
        bytes.fromhex("d9d9f7") * 3 + bytes.fromhex("80"),  # self-described tags
    ],
)
def test_hostile_senml_cbor(doc: bytes) -> None:
    with pytest.raises(DecodeError):
        get_codec("senml-cbor").decode(doc)
