"""The one-pass binary path accepts exactly what the full decoding path accepts, with equal
output.

Its rejections are not compared (it returns None and the caller takes the full path for the
reason): only that it never accepts what the full path rejects, never gives other bytes, and
takes the valid frames an encoder and the simulator write (else it would be no faster).
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from firmware_protocol.codecs import get_codec
from firmware_protocol.codecs.binary import crc16
from firmware_protocol.model import Message, Reading
from gateway.decoding import Decoded, decode
from gateway.fastbinary import fast_binary
from simulators.faults import parse_fault_spec
from simulators.fleet import FleetConfig, FleetSource
from simulators.outgoing import topic_formatter
from simulators.signals import SENSORS
from tests.firmware_protocol.strategies import PROFILE, messages
from tests.gateway import fastpath
from tests.gateway.fastpath import SUBS

VECTORS = Path(__file__).resolve().parents[2] / "firmware_protocol" / "vectors"
CODEC = get_codec("binary")


def agree(payload: bytes, device: str, site: str, keep: bool = True,
          must_take: bool = False) -> None:
    """:func:`tests.gateway.fastpath.agree` for the binary fast path."""
    fastpath.agree(fast_binary, "binary", payload, device, site, keep, must_take)


def with_crc(body: bytes | bytearray) -> bytes:
    """``body`` with a correct CRC appended (so a mutation reaches the fields)."""
    return bytes(body) + crc16(bytes(body)).to_bytes(2, "little")


def test_the_protocol_vectors() -> None:
    for vector in json.loads((VECTORS / "messages.json").read_text()):
        frame = bytes.fromhex(vector["encodings"]["binary"])
        device = vector["message"]["device"]
        site = vector["message"].get("site") or "s1"
        agree(frame, device, site, must_take=True)
        agree(frame, device, site, keep=False, must_take=True)
        agree(frame, "someone-else", "s1")
        agree(frame, device, "another-site")


def test_the_invalid_vectors() -> None:
    for vector in json.loads((VECTORS / "invalid_binary.json").read_text()):
        frame = bytes.fromhex(vector["hex"])
        agree(frame, "pump-7", "s1")
        assert fast_binary(frame, "pump-7", "s1", True) is None, vector["name"]


@PROFILE
@given(msg=messages, own_site=st.booleans(), keep=st.booleans())
def test_valid_messages(msg: Message, own_site: bool, keep: bool) -> None:
    frame = CODEC.encode(msg)
    site = msg.site if msg.site is not None and own_site else "topic-site"
    agree(frame, msg.device, site, keep, must_take=True)


def base() -> Message:
    return Message("pump-7", 4, 1_700_000_000_000,
                   (Reading("t", 21.5, "Cel"), Reading("h", 40, "%RH", offset_ms=-20, quality=3),
                    Reading("v", 0.1 + 0.2, "my-unit"), Reading("p", 101.325, "kPa"),
                    Reading("n", 2**40), Reading("on", True)), site="s1")


@PROFILE
@given(data=st.data())
def test_mutated_frames(data: st.DataObject) -> None:
    """Bytes overwritten, inserted or removed, the CRC then made right (else every mutation
    would stop at the CRC) or left as it falls."""
    frame = bytearray(CODEC.encode(base())[:-2])
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(frame) - 1))
        action = data.draw(st.integers(0, 3))
        if action == 0:
            frame[at] = data.draw(st.integers(0, 255))
        elif action == 1:
            frame[at] ^= 1 << data.draw(st.integers(0, 7))
        elif action == 2:
            frame.insert(at, data.draw(st.integers(0, 255)))
        else:
            del frame[at]
    payload = with_crc(frame) if data.draw(st.booleans()) else bytes(frame) + b"\x00\x00"
    agree(payload, "pump-7", data.draw(st.sampled_from(["s1", "s2"])))


@PROFILE
@given(data=st.data())
def test_truncated_and_extended(data: st.DataObject) -> None:
    body = CODEC.encode(base())[:-2]
    cut = data.draw(st.integers(0, len(body)))
    extra = data.draw(st.binary(max_size=12))
    agree(with_crc(body[:cut] + extra), "pump-7", "s1")
    agree(body[:cut] + extra, "pump-7", "s1")


def record(rtype: int, payload: bytes) -> bytes:
    return bytes([rtype, len(payload)]) + payload


def frame_with(*records: bytes, flags: int = 0, device: bytes = b"pump-7",
               site: bytes = b"s1", version: int = 1) -> bytes:
    head = b"IG" + bytes([version, flags, len(device)]) + device
    if flags & 1:
        head += bytes([len(site)]) + site
    head += struct.pack("<IIH", 9, 1_700_000_000_000 & 0xFFFFFFFF, 1_700_000_000_000 >> 32)
    return with_crc(head + b"".join(records))


def test_edge_cases() -> None:
    f32 = struct.pack("<f", 1.5)
    cases = [
        frame_with(record(0x01, f32 + b"t")),
        frame_with(record(0x01, f32 + b"t"), flags=1),
        frame_with(record(0x01, f32 + b"t"), flags=2),  # a reserved flag bit
        frame_with(record(0x01, f32 + b"t"), version=2),
        frame_with(record(0x01, f32 + b"t"), device=b""),  # the topic names the device
        frame_with(record(0x01, f32 + b"t"), flags=1, site=b""),
        frame_with(record(0x01, f32 + b"t"), device=b"\xff"),
        frame_with(record(0x01, f32 + b"t"), record(0x81, f32 + b"x")),  # skipped by the codec
        frame_with(record(0x01, f32 + b"t"), record(0x0F, b"zz")),  # an unknown kind
        frame_with(record(0x81, f32 + b"x")),  # nothing but a skipped record
        frame_with(record(0x01, struct.pack("<f", float("nan")) + b"t")),
        frame_with(record(0x02, struct.pack("<d", float("inf")) + b"t")),
        frame_with(record(0x05, b"\x02t")),  # a bool byte of 2
        frame_with(record(0x05, b"\x01t"), record(0x05, b"\x00t")),  # a sensor twice
        frame_with(record(0x06, struct.pack("<ib", 2**31 - 1, 127) + b"t")),
        frame_with(record(0x06, struct.pack("<ib", -7, -128) + b"t")),
        frame_with(record(0x04, struct.pack("<q", -(2**63)) + b"t")),
        frame_with(record(0x11, f32 + bytes([0x80 | 101]) + b"t")),  # the last unit code
        frame_with(record(0x11, f32 + bytes([0x80 | 102]) + b"t")),  # past the table
        frame_with(record(0x11, f32 + b"\x00t")),  # an empty unit string
        frame_with(record(0x11, f32 + b"\x11" + b"u" * 17 + b"t")),  # a unit of 17 bytes
        frame_with(record(0x11, f32 + b"\x02a\\t")),  # a unit the ingest contract refuses
        frame_with(record(0x21, f32 + struct.pack("<i", -(2**31)) + b"t")),
        frame_with(record(0x21, f32 + struct.pack("<i", 2**31 - 1) + b"t")),
        frame_with(record(0x41, f32 + b"\xc8t")),  # quality bits without a name
        frame_with(record(0x41, f32 + b"\x00t")),
        frame_with(record(0x71, f32 + b"\x81" + struct.pack("<i", 5) + b"\x01t")),
        frame_with(record(0x71, f32 + b"\x81" + struct.pack("<i", 5))),  # no sensor
        frame_with(record(0x01, f32)),  # no sensor
        frame_with(record(0x01, b"\x00\x00")),  # a value cut short
        frame_with(record(0x01, f32 + b"x" * 65)),  # a sensor name too long
        frame_with(record(0x01, f32 + b"a\\")),  # refused by the ingest contract
        frame_with(record(0x01, f32 + b"\xc3\xa9")),
        frame_with(*[record(0x03, struct.pack("<i", i) + b"s%d" % i) for i in range(256)]),
        frame_with(*[record(0x03, struct.pack("<i", i) + b"s%d" % i) for i in range(255)]),
    ]
    for payload in cases:
        for site in ("s1", "s2"):
            agree(payload, "pump-7", site)
            agree(payload, "other", site)


def test_every_valid_frame_the_simulator_writes_takes_the_fast_path() -> None:
    faults = parse_fault_spec("spike=0.05,drift=0.02/5,stuck=0.02/5,clock-skew=0.01/3,"
                              "bad-crc=0.02,truncated=0.02,wrong-type=0.02,duplicate=0.02,"
                              "out-of-order=0.02,dropout=0.01/3")
    cfg = FleetConfig(devices=7, sensors=tuple(SENSORS), rate=100.0, fmt="binary", qos=1,
                      seed=5, site="plant-ä", start_ms=1_700_000_000_000, faults=faults)
    source = FleetSource(cfg, CODEC, topic_formatter())
    taken = 0
    for _ in range(3000):
        for item in source.step():
            if item.payload is None:
                continue
            route = SUBS[0].route(item.topic)
            assert route is not None
            fast = fast_binary(item.payload, route.context.device, route.context.site, True)
            full = decode(SUBS, item.topic, item.payload, 0, True)
            if isinstance(full, Decoded):
                assert fast == full
                taken += 1
            else:
                assert fast is None
    assert taken > 2500


@PROFILE
@given(kinds=st.lists(st.tuples(st.integers(0, 0x7F), st.binary(min_size=8, max_size=8),
                                 st.sampled_from([b"t", b"h", b"\x81", b"\x81t", b"\x02V\xfft"])),
                      min_size=1, max_size=4))
def test_any_value_bytes(kinds: list[tuple[int, bytes, bytes]]) -> None:
    """Every type byte and any value bits (NaN, infinities, bool bytes, decimal extremes)."""
    sizes = {1: 4, 2: 8, 3: 4, 4: 8, 5: 1, 6: 5}
    records = [record(rtype, value[: sizes.get(rtype & 0x0F, 3)] + tail)
               for rtype, value, tail in kinds]
    agree(frame_with(*records), "pump-7", "s1")
