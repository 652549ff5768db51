"""The conformance suite every codec passes: round trips, context rules, garbage handling."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware_protocol.codec import Codec, DecodeContext
from firmware_protocol.codecs import CODEC_NAMES, get_codec
from firmware_protocol.errors import BadField, DecodeError, EncodeError
from firmware_protocol.model import Message, Reading, validate_message
from tests.firmware_protocol.strategies import PROFILE, messages

SAMPLE = Message(
    device="pump-7",
    seq=42,
    ts_ms=1_700_000_000_123,
    readings=(
        Reading("temperature", 21.5, unit="Cel"),
        Reading("humidity", 40.2, unit="%RH", offset_ms=-250),
        Reading("count", 7, quality=1),
        Reading("door_open", True),
    ),
)


@pytest.fixture(params=CODEC_NAMES, scope="module")
def codec(request: pytest.FixtureRequest) -> Codec:
    return get_codec(request.param)


def test_every_codec_implements_the_protocol(codec: Codec) -> None:
    assert isinstance(codec, Codec)
    assert codec.name in CODEC_NAMES
    assert "/" in codec.content_type


def test_get_codec_rejects_unknown_names_listing_valid_ones() -> None:
    with pytest.raises(ValueError, match="binary, json, senml-json, senml-cbor"):
        get_codec("protobuf")


def test_sample_round_trips_exactly(codec: Codec) -> None:
    decoded = codec.decode(codec.encode(SAMPLE))
    assert decoded == SAMPLE
    assert [type(r.value) for r in decoded.readings] == [float, float, int, bool]


@PROFILE
@given(msg=messages)
def test_round_trip_property(codec: Codec, msg: Message) -> None:
    decoded = codec.decode(codec.encode(msg))
    assert decoded == msg
    assert [type(r.value) for r in decoded.readings] == [type(r.value) for r in msg.readings]


def test_topic_context_fills_site_and_checks_device(codec: Codec) -> None:
    data = codec.encode(SAMPLE)
    filled = codec.decode(data, DecodeContext(device="pump-7", site="plant-a"))
    assert filled == dataclasses.replace(SAMPLE, site="plant-a")
    with pytest.raises(BadField, match="device"):
        codec.decode(data, DecodeContext(device="pump-8"))
    with pytest.raises(BadField, match="site"):
        codec.decode(codec.encode(dataclasses.replace(SAMPLE, site="x")), DecodeContext(site="y"))


@pytest.mark.parametrize(
    "bad",
    [
        dataclasses.replace(SAMPLE, readings=()),
        dataclasses.replace(SAMPLE, seq=-1),
        dataclasses.replace(SAMPLE, readings=(Reading("t", float("nan")),)),
        dataclasses.replace(SAMPLE, ts_ms=0),
        dataclasses.replace(SAMPLE, device="x" * 65),
    ],
    ids=["no-readings", "negative-seq", "nan", "ts-1970", "long-device"],
)
def test_encode_rejects_invalid_messages(codec: Codec, bad: Message) -> None:
    with pytest.raises(EncodeError):
        codec.encode(bad)


@pytest.mark.parametrize(
    "garbage",
    [b"", b"\x00", b"{}", b"[]", b"null", b"\xff" * 40, b"IG\x01", b"[{}]", b'{"readings":[1]}'],
)
def test_garbage_raises_decode_error(codec: Codec, garbage: bytes) -> None:
    with pytest.raises(DecodeError):
        codec.decode(garbage)


@PROFILE
@given(data=st.binary(max_size=300))
def test_random_bytes_raise_only_decode_error(codec: Codec, data: bytes) -> None:
    try:
        msg = codec.decode(data)
    except DecodeError as exc:
        assert exc.reason and str(exc)
    else:  # vanishingly rare, but then it must be a valid message
        assert validate_message(msg) is msg


def test_oversize_input_is_rejected_before_parsing(codec: Codec) -> None:
    with pytest.raises(DecodeError, match="maximum"):
        codec.decode(b" " * 70_000)


def test_non_bytes_input_is_a_decode_error(codec: Codec) -> None:
    with pytest.raises(DecodeError):
        codec.decode("not bytes")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("codec_name", "payload"),
    [
        ("json", b'{"seq":1,"ts":1700000000000,"readings":[{"sensor":"t","value":1}]}'),
        ("senml-json", b'[{"bt":1700000000,"n":"t","v":1}]'),
    ],
)
def test_device_may_come_from_the_topic_only(codec_name: str, payload: bytes) -> None:
    codec = get_codec(codec_name)
    assert codec.decode(payload, DecodeContext(device="p1")).device == "p1"
    with pytest.raises(BadField, match="device: is missing"):
        codec.decode(payload)
