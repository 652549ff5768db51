"""Regenerate ingest_protocol/vectors/ from the contract's validators (after a deliberate change).

    PYTHONPATH=. python scripts/generate_ingest_vectors.py

Each vector is a body (the decompressed bytes, as text) and the verdict every implementation of
the contract must give it under the file's ``limits``: ``status`` (200, or 400/413/422 for a body
that is not an acceptable batch, with the exact ``detail`` where the contract words it) and, for
200, the exact response (accepted counts and each rejection's index and reason).
tests/ingest_protocol/ runs the gateway's batch builder, the cloud and the test sink over them.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from firmware_protocol.model import MAX_SEQ, MAX_TS_MS, MIN_TS_MS
from ingest_protocol import EnvelopeRejected, judge

OUT = Path(__file__).resolve().parent.parent / "ingest_protocol" / "vectors" / "batches.json"
LIMITS = {"max_body_bytes": 2048, "max_readings_per_batch": 8, "max_anomalies_per_batch": 4}
GW = "gw-1"
TS = 1_700_000_000_000


def r(device: str = "d1", sensor: str = "temp", ts: Any = TS, value: Any = 21.5,
      seq: Any = 1, **extra: Any) -> dict[str, Any]:
    return {"device": device, "sensor": sensor, "ts": ts, "value": value, "seq": seq, **extra}


def a(device: str = "d1", sensor: str = "temp", ts: Any = TS, value: Any = 99.0,
      score: Any = 0.97, detector: str = "hst", **extra: Any) -> dict[str, Any]:
    return {"device": device, "sensor": sensor, "ts": ts, "value": value, "score": score,
            "detector": detector, **extra}


def batch(readings: list[Any], anomalies: list[Any] | None = None, **env: Any) -> str:
    body: dict[str, Any] = {"gateway_id": GW, "batch_id": "b-1", **env, "readings": readings}
    if anomalies is not None:
        body["anomalies"] = anomalies
    text = json.dumps(body, ensure_ascii=False, allow_nan=True)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: only a \u escape can carry it
        text = json.dumps(body, allow_nan=True)
    return text


#: (name, body, canonical): the body is sent as its UTF-8 bytes; a canonical body holds
#: records exactly as a gateway writes them.
VALID: list[tuple[str, str, bool]] = [
    ("minimal", batch([r()]), True),
    ("every-field", batch(
        [r(unit="Cel", quality=3, site="plant-1"), r(sensor="door", value=True, seq=2),
         r(sensor="door", ts=TS + 1, value=False, seq=3), r(sensor="count", value=-7, seq=4)],
        [a(expected_low=18.0, expected_high=24.0, site="plant-1"), a(sensor="door")],
        sent_at=TS + 5), True),
    ("explicit-version-1", batch([r()], [], v=1), True),
    ("empty", batch([]), True),
    ("bounds", batch([r(ts=MIN_TS_MS, seq=0, quality=0), r(ts=MAX_TS_MS, seq=MAX_SEQ,
                                                          quality=255, value=-1.5e300)]), True),
    ("utf8-names-at-the-limit", batch(
        [r(device="é" * 32, sensor="温度", unit="°C" + "x" * 13, site="ü")],
        [a(device="é" * 32, detector="検出")]), True),
    ("limits-reached", batch([r(ts=TS + i, seq=i) for i in range(8)],
                             [a(ts=TS + i) for i in range(4)]), True),
    ("unknown-fields-and-nulls", batch(
        [r(unit=None, site=None, note={"x": [1]}), r(value=3, seq=2)],
        [a(value=1, expected_low=None)], sent_at="now", future_field=[1]), False),
    ("names-normalised-to-nfc", batch([r(device="Cafe\u0301", sensor="t\u0308")]), False),
]

#: Bodies whose envelope is fine but some entries are not: 200 with rejections.
PARTIAL: list[tuple[str, str]] = [
    ("value-not-finite", batch([r(value=math.nan), r(value=math.inf, seq=2),
                                r(value=-math.inf, seq=3), r(seq=4)])),
    ("value-wrong-type", batch([r(value=None), r(value="warm", seq=2), r(value=[1], seq=3),
                                r(value={"v": 1}, seq=4)])),
    ("ts-out-of-bounds", batch([r(ts=MIN_TS_MS - 1), r(ts=MAX_TS_MS + 1, seq=2),
                                r(ts=TS + 0.5, seq=3), r(ts="yesterday", seq=4)])),
    ("seq-out-of-bounds", batch([r(seq=-1), r(seq=MAX_SEQ + 1), r(seq=None)])),
    ("quality-out-of-bounds", batch([r(quality=256), r(quality=-1, seq=2),
                                     r(quality=1.5, seq=3)])),
    ("unit-bad", batch([r(unit=""), r(unit="u" * 17, seq=2), r(unit="°" * 9, seq=3),
                        r(unit="a,b\\", seq=4)])),
    ("names-bad", batch([r(device=""), r(device="d\n1", seq=2), r(device="ends\\", seq=3),
                         r(device="back\\ slash", seq=4), r(device="d" * 65, seq=5),
                         r(device="é" * 33, seq=6), r(sensor="\ud800", seq=7),
                         r(site="s\x7f", seq=8)])),
    ("missing-and-not-objects", batch([{"device": "d1", "ts": TS, "value": 1, "seq": 1}, 5,
                                       "reading", None, r(seq=2)])),
    ("bool-names", batch([r(device=True), r(sensor=1, seq=2)])),
    ("strict-types", batch([r(ts=str(TS)), r(ts=1.7e12, seq=2), r(seq=1.0), r(value="1.5"),
                            r(value="true", seq=5), r(quality="1", seq=6), r(ts=True, seq=7),
                            r(seq=8)])),
    ("names-invisible", batch([r(device="pump\u202e9"), r(sensor="t\u200bemp", seq=2),
                               r(site="\ufeffplant", seq=3), r(unit="C\u2028", seq=4),
                               r(device="a\u2066b\u2069", seq=5), r(device="\u3164", seq=6),
                               r(device="soft\u00adhyphen", seq=7), r(seq=8)],
                              [a(detector="h\u200dst"), a()])),
    ("anomalies-bad", batch([r()], [a(score=math.nan), {"device": "d1"}, a(detector="", ts=0),
                                    a(expected_low="low")])),
]

#: Bodies that are not an acceptable batch: (name, body).
REFUSED: list[tuple[str, str]] = [
    ("not-json", "{oops"),
    ("empty-body", ""),
    ("truncated", '{"gateway_id": "gw-1", "readings": ['),
    ("not-an-object", "[1, 2]"),
    ("missing-batch-id", json.dumps({"gateway_id": GW, "readings": []})),
    ("readings-null", json.dumps({"gateway_id": GW, "batch_id": "b", "readings": None})),
    ("readings-not-a-list", json.dumps({"gateway_id": GW, "batch_id": "b", "readings": {}})),
    ("gateway-id-empty", json.dumps({"gateway_id": "", "batch_id": "b", "readings": []})),
    ("gateway-id-invisible", batch([], gateway_id="gw\u200b1")),
    ("gateway-id-control", batch([], gateway_id="gw\n1")),
    ("version-a-string", batch([r()], v="1")),
    ("batch-id-too-long", batch([], batch_id="b" * 257)),
    ("newer-version", batch([r()], v=2)),
    ("version-not-a-number", batch([r()], v="one")),
    ("too-many-readings", batch([r(seq=i) for i in range(9)])),
    ("too-many-anomalies", batch([], [a(ts=TS + i) for i in range(5)])),
    ("too-many-bad-readings", batch([5] * 9)),
    ("body-too-large", batch([r()], padding="x" * 2048)),
    ("nested-too-deep", batch([r(note=json.loads("[" * 40 + "]" * 40))])),
    ("nested-too-deep-bare", "[" * 1000 + "]" * 1000),
]


def verdict(body: str) -> dict[str, Any]:
    raw = body.encode("utf-8")
    if len(raw) > LIMITS["max_body_bytes"]:
        return {"status": 413, "detail": None}
    try:
        v = judge(raw, LIMITS["max_readings_per_batch"], LIMITS["max_anomalies_per_batch"])
    except EnvelopeRejected as exc:
        return {"status": exc.status, "detail": exc.detail}
    return {"status": 200, "response": v.response()}


def render() -> str:
    """The vectors file's text, computed from the contract's validators."""
    vectors: list[dict[str, Any]] = []
    for name, body, canonical in VALID:
        vectors.append({"name": name, "kind": "valid", "canonical": canonical, "body": body,
                        "expect": verdict(body)})
    for name, body in PARTIAL:
        vectors.append({"name": name, "kind": "partial", "body": body, "expect": verdict(body)})
    for name, body in REFUSED:
        vectors.append({"name": name, "kind": "refused", "body": body, "expect": verdict(body)})
    for v in vectors:
        status = v["expect"]["status"]
        rejected = v["expect"].get("response", {}).get("rejected")
        assert (v["kind"] == "refused") == (status != 200), v["name"]
        assert (v["kind"] == "valid") == (status == 200 and not rejected
                                          and not v["expect"]["response"]["anomalies_rejected"]
                                          ), v["name"]
    doc = {"version": 1, "gateway_id": GW, "limits": LIMITS, "vectors": vectors}
    return json.dumps(doc, indent=1, ensure_ascii=True) + "\n"


def main() -> None:
    OUT.write_text(render(), encoding="utf-8")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
