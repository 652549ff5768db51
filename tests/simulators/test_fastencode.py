"""The simulator's encoding fast path gives the codec's exact bytes, or defers to the codec."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware_protocol.codecs import CODEC_NAMES, get_codec
from firmware_protocol.codecs._binary_records import value_kind
from firmware_protocol.model import Message, Reading
from simulators.fastencode import DeviceEncoder, float_kind
from simulators.faults import parse_fault_spec
from simulators.fleet import FleetConfig, FleetSource
from simulators.outgoing import LineTemplate, encode_line, topic_formatter
from simulators.signals import SENSORS

FAULTS = "spike=0.05,drift=0.02/5,stuck=0.02/5,clock-skew=0.01/3,bad-crc=0.02,truncated=0.02," \
         "wrong-type=0.02,duplicate=0.02,out-of-order=0.02,dropout=0.01/3"


@pytest.mark.parametrize("fmt", CODEC_NAMES)
def test_fleet_payloads_are_the_codecs_bytes(fmt: str) -> None:
    codec = get_codec(fmt)
    cfg = FleetConfig(devices=7, sensors=tuple(SENSORS), rate=100.0, fmt=fmt, qos=1, seed=5,
                      site="plant-ä", start_ms=1_700_000_000_000,
                      faults=parse_fault_spec(FAULTS))
    source = FleetSource(cfg, codec, topic_formatter())
    checked = 0
    for _ in range(3000):
        for item in source.step():
            if item.payload is not None and not item.malformed:
                assert item.payload == codec.encode(item.message)
                checked += 1
    assert checked > 2500


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_float_kind_matches_the_codec(value: float) -> None:
    assert float_kind(value) == value_kind(value)


@pytest.mark.parametrize("value", [0.0, -0.0, 21.37, -21.37, 1500.0, 1e-05, 1.5e16, 0.1 + 0.2,
                                   101325.12, 2.0**31, 123456789.123])
def test_float_kind_edge_values(value: float) -> None:
    assert float_kind(value) == value_kind(value)


@pytest.mark.parametrize("fmt", ["json", "binary"])
def test_template_defers_what_it_does_not_cover(fmt: str) -> None:
    enc = DeviceEncoder(get_codec(fmt), "d", None, [("t", "Cel"), ("h", None)])
    assert enc.fast
    assert enc.encode(1, 1_700_000_000_000, (1.0, math.inf)) is None
    assert enc.encode(1, 1_700_000_000_000, (1.0, 2)) is None  # an int: the codec's business
    assert enc.encode(1, 10, (1.0, 2.0)) is None  # before 2000: the codec raises
    msg = Message("d", 1, 1_700_000_000_000, (Reading("t", 1.0, "Cel"), Reading("h", 2.5)))
    assert enc.encode(1, msg.ts_ms, (1.0, 2.5)) == get_codec(fmt).encode(msg)


def test_an_invalid_shape_has_no_template() -> None:
    enc = DeviceEncoder(get_codec("json"), "d\x00", None, [("t", None)])
    assert not enc.fast and enc.encode(1, 1_700_000_000_000, (1.0,)) is None


@pytest.mark.parametrize("fmt", ["json", "binary"])
def test_fleet_manifest_lines_are_the_encoders_text(fmt: str) -> None:
    """The manifest-line template writes exactly what encoding the record would, faults on
    (device and site names with quotes, non-ASCII and a percent sign)."""
    cfg = FleetConfig(devices=7, sensors=tuple(SENSORS), rate=100.0, fmt=fmt, qos=1, seed=9,
                      site='pl"ant-ä %d', start_ms=1_700_000_000_000,
                      faults=parse_fault_spec(FAULTS), device_prefix="dev-%s-")
    source = FleetSource(cfg, get_codec(fmt), topic_formatter("t/{site}/{device}/{format}"))
    templated = n = 0
    for _ in range(3000):
        for item in source.step():
            for acked in (True, False):
                assert item.line(n, acked) == encode_line(item.record(n, acked))
            templated += item.template is not None and not item.labels
            n += 1
    assert templated > 1500  # the clean majority took the template


def test_line_template_defers_what_it_does_not_cover() -> None:
    t = LineTemplate("d", None, "t/d", "json", 0, [("t", "Cel"), ("h", None)])
    assert t.fill(0, 1, 5, [1.0, math.nan], True) is None
    assert t.fill(0, 1, 5, [1.0, 2], True) is None  # an int: the encoder's business
    assert t.fill(0, 1, 5, [1.0], True) is None
    assert t.fill(0, 1, 5, [1.0, 2.5], False) == encode_line(
        {"n": 0, "device": "d", "seq": 1, "ts": 5, "site": None, "topic": "t/d",
         "format": "json", "qos": 0,
         "readings": [{"sensor": "t", "value": 1.0, "ts": 5, "unit": "Cel", "fault": None},
                      {"sensor": "h", "value": 2.5, "ts": 5, "unit": None, "fault": None}],
         "fault": None, "faults": [], "malformed": False, "duplicate": False, "sent": True,
         "acked": False, "degradation": None})
