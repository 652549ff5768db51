"""The one-pass JSON path accepts exactly what the full decoding path accepts, with equal output.

Its rejections are not compared (it returns None and the caller takes the full path for the
reason): only that it never accepts what the full path rejects, never gives other bytes, and
takes the valid messages an encoder writes (else it would be no faster).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from firmware_protocol.codecs import get_codec
from firmware_protocol.model import Message
from gateway.fastjson import fast_json
from tests.firmware_protocol.strategies import PROFILE, messages
from tests.gateway import fastpath

VECTORS = Path(__file__).resolve().parents[2] / "firmware_protocol" / "vectors" / "messages.json"


def agree(payload: bytes, device: str, site: str, keep: bool = True,
          must_take: bool = False) -> None:
    """:func:`tests.gateway.fastpath.agree` for the json fast path."""
    fastpath.agree(fast_json, "json", payload, device, site, keep, must_take)


def test_the_protocol_vectors() -> None:
    for vector in json.loads(VECTORS.read_text()):
        payload = vector["encodings"]["json"].encode()
        device = vector["message"]["device"]
        agree(payload, device, vector["message"].get("site") or "s1", must_take=True)
        agree(payload, device, vector["message"].get("site") or "s1", keep=False, must_take=True)
        agree(payload, "someone-else", "s1")


@PROFILE
@given(msg=messages, own_site=st.booleans())
def test_valid_messages(msg: Message, own_site: bool) -> None:
    payload = get_codec("json").encode(msg)
    site = msg.site if msg.site is not None and own_site else "topic-site"
    agree(payload, msg.device, site, must_take=True)


HOSTILE: list[Any] = [None, "", " ", "a\\", "a\\ b", "x\u200b", "\ud800", "\x00", "e\u0301",
                      "\u00e9" * 40, "x" * 65, "y" * 17, True, False, 0, -1, 1.5, 2**63,
                      -(2**63) - 1, 2**32, 1e308, -0.0, 255, 256, 2**31, -(2**31), [], {},
                      [1], "pump-7", "s1", 1_700_000_000_000, 946_684_799_999, 4_102_444_800_001]
KEYS = ["device", "site", "seq", "ts", "readings", "extra"]
READING_KEYS = ["sensor", "value", "unit", "offset_ms", "quality", "other"]


def base() -> dict[str, Any]:
    return {"device": "pump-7", "seq": 4, "ts": 1_700_000_000_000,
            "readings": [{"sensor": "t", "value": 1.5, "unit": "Cel"},
                         {"sensor": "h", "value": 40, "quality": 3, "offset_ms": -20},
                         {"sensor": "on", "value": True}]}


@PROFILE
@given(data=st.data())
def test_mutated_objects(data: st.DataObject) -> None:
    obj = base()
    for _ in range(data.draw(st.integers(1, 3))):
        if data.draw(st.booleans()):
            key = data.draw(st.sampled_from(KEYS))
            if data.draw(st.integers(0, 5)) == 0:
                obj.pop(key, None)
            else:
                obj[key] = data.draw(st.sampled_from(HOSTILE))
        elif isinstance(obj.get("readings"), list) and obj["readings"]:
            item = obj["readings"][data.draw(st.integers(0, len(obj["readings"]) - 1))]
            if isinstance(item, dict):
                key = data.draw(st.sampled_from(READING_KEYS))
                if data.draw(st.integers(0, 4)) == 0:
                    item.pop(key, None)
                else:
                    item[key] = data.draw(st.sampled_from(HOSTILE))
    payload = json.dumps(obj).encode()
    agree(payload, "pump-7", data.draw(st.sampled_from(["s1", "s2"])))


@PROFILE
@given(data=st.data())
def test_mutated_bytes(data: st.DataObject) -> None:
    payload = bytearray(json.dumps(base()).encode())
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(payload) - 1))
        payload[at] = data.draw(st.integers(0, 255))
    agree(bytes(payload), "pump-7", "s1")


def test_repeated_sensor_and_edge_cases() -> None:
    twice = base()
    twice["readings"].append({"sensor": "t", "value": 2.0})
    agree(json.dumps(twice).encode(), "pump-7", "s1")
    agree(b'{"device": "pump-7", "device": "other", "seq": 1, "ts": 1700000000000,'
          b' "readings": [{"sensor": "t", "value": 1}]}', "pump-7", "s1")
    agree(b'{"seq": 1, "ts": 1700000000000, "readings": [{"sensor": "t", "value": NaN}]}',
          "pump-7", "s1")
    agree(b'{"seq": 1, "ts": 1700000000000, "readings": [{"sensor": "t", "value": 1e400}]}',
          "pump-7", "s1")
    agree(b'{"seq": 1, "ts": 1700000000000, "readings": [], "x": 1}', "pump-7", "s1")
    agree(b'{"seq": 1, "ts": 1700000000000, "readings": [{"sensor": "t", "value": 1}]}'
          + b" " * 70_000, "pump-7", "s1")


def test_where_the_two_parsers_could_disagree() -> None:
    ok = b'{"seq": 1, "ts": 1700000000000, "readings": [{"sensor": "t", "value": 1}]'
    for tail in (b', "x": "\xff"}', b', "x": "\xc3\xa9"}', b', "x": "\\ud800"}',
                 b', "x": ' + b"[" * 1200 + b"]" * 1200 + b"}", b', "x": NaN}',
                 b', "x": Infinity}', b', "site": null}', b', "device": null}',
                 b', "se\\u0071": 7}', b', "seq": 2}', b', "seq": "2"}', b', "ts": 1.7e12}',
                 b', "x": "tab\there"}', b"} trailing", b"}\n ", b', "readings": 1}'):
        agree(ok + tail, "pump-7", "s1")
    for value in (b"123456789012345678901234567890", b"9223372036854775807", b"-0", b"-0.0",
                  b"1E5", b"1e-320", b"5e-324", b"1.7976931348623157e308", b"1e309", b"01",
                  b"1.", b"0.1", b"true", b"null", b'"1"', b"[1]"):
        agree(b'{"seq": 1, "ts": 1700000000000, "readings": [{"sensor": "t", "value": '
              + value + b', "unit": "V"}]}', "pump-7", "s1")
    for reading in (b'"unit": null', b'"unit": ""', b'"quality": false', b'"offset_ms": 1.0',
                    b'"quality": 256', b'"offset_ms": -5', b'"offset_ms": 0, "quality": 0'):
        agree(b'{"seq": 1, "ts": 1700000000000, "readings": [{"sensor": "t", "value": 1, '
              + reading + b"}]}", "pump-7", "s1")


@PROFILE
@given(number=st.from_regex(r"\A-?(0|[1-9][0-9]{0,20})(\.[0-9]{1,20})?([eE][-+]?[0-9]{1,3})?\Z"))
def test_numbers_parse_alike(number: str) -> None:
    agree(b'{"seq": 1, "ts": 1700000000000, "readings": [{"sensor": "t", "value": '
          + number.encode() + b"}]}", "pump-7", "s1")
