"""Regenerate firmware_protocol/vectors/ from the Python codecs (run after a deliberate change).

    PYTHONPATH=. python scripts/generate_vectors.py

The vectors are the contract other implementations (the C encoder, other gateways) test
against; tests/firmware_protocol/test_vectors.py fails if the codecs drift from them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from firmware_protocol.codecs import CODEC_NAMES, get_codec
from firmware_protocol.codecs._binary_records import KIND_DEC, KIND_NAMES, value_kind
from firmware_protocol.codecs.binary import crc16
from firmware_protocol.codecs.json import to_object
from firmware_protocol.model import MAX_OFFSET_MS, MAX_TS_MS, MIN_TS_MS, Message, Quality, Reading

OUT = Path(__file__).resolve().parent.parent / "firmware_protocol" / "vectors"
TS = 1_700_000_000_123

MESSAGES: dict[str, Message] = {
    "minimal": Message("d", 0, TS, (Reading("on", True),)),
    "five-readings": Message("pump-7", 42, TS, (
        Reading("temperature", 21.5, unit="Cel"),
        Reading("humidity", 40.2, unit="%RH"),
        Reading("pressure", 1013.25, unit="hPa"),
        Reading("battery", 3.71, unit="V"),
        Reading("door_open", True),
    )),
    "every-value-kind": Message("meter-1", 7, TS, (
        Reading("f32", -0.0), Reading("dec", -273.15), Reading("f64", 0.1 + 0.2),
        Reading("big_f64", 1.5e300), Reading("i32", -2_147_483_648),
        Reading("i64", 9_223_372_036_854_775_807), Reading("false", False),
        Reading("tiny", 5e-324),
    )),
    "optional-parts": Message("env-3", 4_294_967_295, TS, (
        Reading("t_avg", 19.25, unit="Cel", offset_ms=-60_000, quality=Quality.ESTIMATED),
        Reading("flow", 12, unit="furlong/ftn", offset_ms=MAX_OFFSET_MS),
        Reading("level", 0.5, quality=Quality.SENSOR_FAULT | Quality.OUT_OF_RANGE | 0x80),
    ), site="plant-a"),
    "utf8-names": Message("капля-1", 1, TS, (Reading("température", 20, unit="°F"),)),
    "timestamp-bounds-min": Message("d", 1, MIN_TS_MS, (Reading("x", 1),)),
    "timestamp-bounds-max": Message("d", 2, MAX_TS_MS, (Reading("x", 1),)),
    "many-readings": Message("rack-9", 99, TS, tuple(
        Reading(f"cell{i:02d}", round(3.3 + i / 100, 2), unit="V") for i in range(32)
    )),
}


def _wire(msg: Message) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for r in msg.readings:
        kind, body = value_kind(r.value)
        item: dict[str, Any] = {"kind": KIND_NAMES[kind]}
        if kind == KIND_DEC:
            item["mantissa"] = int.from_bytes(body[:4], "little", signed=True)
            item["exponent"] = int.from_bytes(body[4:], "little", signed=True)
        out.append(item)
    return out


def _encodings(msg: Message) -> dict[str, str]:
    out = {}
    for name in CODEC_NAMES:
        data = get_codec(name).encode(msg)
        out[name] = data.decode() if "json" in name else data.hex()
    return out


def _resign(frame: bytes) -> bytes:
    return frame[:-2] + crc16(frame[:-2]).to_bytes(2, "little")


def invalid_frames() -> list[dict[str, str]]:
    """Binary frames a decoder must reject, with the error class expected."""
    good = get_codec("binary").encode(MESSAGES["five-readings"])
    cases = [
        ("bad-magic", "MalformedPayload", b"XX" + good[2:]),
        ("version-2", "UnsupportedVersion", good[:2] + b"\x02" + good[3:]),
        ("bad-crc", "ChecksumError", good[:-1] + bytes([good[-1] ^ 0xFF])),
        ("truncated-header", "TruncatedFrame", good[:12]),
        ("reserved-flag", "BadField", _resign(good[:3] + b"\x02" + good[4:])),
        ("record-length-lie", "TruncatedFrame", _resign(good[:22] + b"\xff" + good[23:])),
        ("unknown-unit-code", "BadField", _resign(good[:27] + b"\xfe" + good[28:])),
        ("no-readings", "BadField", _resign(good[:21] + b"\0\0")),
        ("too-large", "FrameTooLarge", good[:3] + bytes(4096)),
    ]
    return [{"name": name, "error": error, "hex": data.hex()} for name, error, data in cases]


def main() -> None:
    vectors = [
        {"name": name, "message": to_object(msg), "wire": _wire(msg), "encodings": _encodings(msg)}
        for name, msg in MESSAGES.items()
    ]
    OUT.mkdir(exist_ok=True)
    for filename, doc in (("messages.json", vectors), ("invalid_binary.json", invalid_frames())):
        text = json.dumps(doc, indent=1, ensure_ascii=False) + "\n"
        (OUT / filename).write_text(text, encoding="utf-8")
        print(f"wrote {OUT / filename}")


if __name__ == "__main__":
    main()
