"""SPEC.md stays true: its hex examples, unit table and JSON examples match the code."""

from __future__ import annotations

import json
import re
from pathlib import Path

import firmware_protocol
from firmware_protocol.codecs import get_codec
from firmware_protocol.codecs._units import UNIT_CODES
from firmware_protocol.codecs.binary import MAX_FRAME_BYTES, MIN_FRAME_BYTES

PKG = Path(firmware_protocol.__file__).parent
SPEC = (PKG / "SPEC.md").read_text(encoding="utf-8")
VECTORS = {v["name"]: v for v in json.loads((PKG / "vectors" / "messages.json").read_text())}


def test_worked_examples_are_the_vectors() -> None:
    blocks = re.findall(r"<!-- vector: ([\w-]+) -->\n```text\n(.*?)```", SPEC, re.S)
    assert len(blocks) >= 3
    for name, text in blocks:
        assert "".join(text.split()) == VECTORS[name]["encodings"]["binary"], name


def test_unit_table_is_the_codes() -> None:
    cells = re.findall(r"(0x[89a-f][0-9a-f]) `([^`]+)`", SPEC)
    assert [(int(code, 16) - 0x80, unit) for code, unit in cells] == list(enumerate(UNIT_CODES))


def test_limits_quoted_match_the_code() -> None:
    assert f"**Maximum frame size: {MAX_FRAME_BYTES} bytes**" in SPEC
    assert f"The smallest valid frame is {MIN_FRAME_BYTES} bytes" in SPEC


def test_json_examples_decode() -> None:
    blocks = re.findall(r"```json\n(.*?)```", SPEC, re.S)
    assert len(blocks) == 2
    plain = get_codec("json").decode(blocks[0].encode())
    assert plain.site == "plant-a" and plain.readings[1].offset_ms == -500
    senml = get_codec("senml-json").decode(blocks[1].encode())
    assert senml.device == "pump-7" and senml.readings[1].value is True
