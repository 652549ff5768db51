"""Regenerate ingest_protocol/vectors/compact.json: the compact batch's vectors.

    PYTHONPATH=. python scripts/generate_compact_vectors.py

Most are the JSON vectors (``batches.json``) in compact form: consecutive readings that share
device, sensor, site, unit (and whether ``quality`` is given) become one series, so the
flattened order is the JSON order and **a 200 verdict must be the JSON vector's, rejection
indexes and reasons included** (checked here: the script refuses to write otherwise). JSON
vectors a compact body cannot carry are left out (not JSON at all, a reading without ``ts``,
``value`` or ``seq``, ``readings`` not a list of objects, a lone surrogate, or a 413 for
body size). The rest
are the compact batch's own cases (series of unequal arrays, NaN in MessagePack, binary
names, a body that is not MessagePack). Each vector is given in both compact media types:
``body`` (text) for ``+json``, ``body_b64`` for ``+msgpack``.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import msgspec

from ingest_protocol import EnvelopeRejected
from ingest_protocol.compact import COMPACT_JSON, MSGPACK
from ingest_protocol.receive import judge_any

VECTORS = Path(__file__).resolve().parent.parent / "ingest_protocol" / "vectors"
SOURCE = VECTORS / "batches.json"
OUT = VECTORS / "compact.json"
_HEAD = ("device", "sensor", "site", "unit")
_MISSING = object()


def _series(readings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    last: Any = None
    for r in readings:
        key = (tuple(json.dumps(r.get(k, "\0missing")) for k in _HEAD), "quality" in r)
        if key != last:
            s = {k: r[k] for k in _HEAD if k in r}
            s.update(ts=[], value=[], seq=[])
            if "quality" in r:
                s["quality"] = []
            out.append(s)
            last = key
        for k in ("ts", "value", "seq", "quality"):
            if k in s:
                s[k].append(r[k])
    return out


def compact(body: dict[str, Any]) -> dict[str, Any] | None:
    """The compact form of a JSON batch, or None when it has none."""
    readings = body.get("readings")
    if not isinstance(readings, list) or not all(
            isinstance(r, dict) and {"ts", "value", "seq"} <= r.keys() for r in readings):
        return None
    return {**{k: v for k, v in body.items() if k != "readings"}, "series": _series(readings)}


def verdict(raw: bytes, media: str, limits: dict[str, int]) -> dict[str, Any]:
    if len(raw) > limits["max_body_bytes"]:
        return {"status": 413, "detail": None}
    try:
        v = judge_any(raw, media, limits["max_readings_per_batch"],
                      limits["max_anomalies_per_batch"])
    except EnvelopeRejected as exc:
        return {"status": exc.status, "detail": exc.detail}
    return {"status": 200, "response": v.response()}


def _r(ts: Any = 1_700_000_000_000, **kw: Any) -> dict[str, Any]:
    return {"device": "d1", "sensor": "temp", "ts": [ts], "value": [1.5], "seq": [1], **kw}


OWN: list[tuple[str, Any]] = [
    ("grouped", {"gateway_id": "gw-1", "batch_id": "b-1", "series": [
        {"device": "d1", "sensor": "temp", "site": "p", "unit": "Cel",
         "ts": [1_700_000_000_000, 1_700_000_001_000], "value": [21.5, 22], "seq": [1, 2],
         "quality": [0, 3]},
        {"device": "d1", "sensor": "door", "ts": [1_700_000_000_000], "value": [True],
         "seq": [1]}]}),
    ("bad-second-reading", {"gateway_id": "gw-1", "batch_id": "b-1", "series": [
        _r(), {**_r(), "ts": [1_700_000_000_000, 5], "value": [1, 2], "seq": [1, 2]}]}),
    ("unequal-arrays", {"gateway_id": "gw-1", "batch_id": "b-1", "series": [
        {**_r(), "value": [1.0, 2.0]}]}),
    ("quality-short", {"gateway_id": "gw-1", "batch_id": "b-1", "series": [
        {**_r(), "quality": []}]}),
    ("series-missing", {"gateway_id": "gw-1", "batch_id": "b-1"}),
    ("series-not-a-list", {"gateway_id": "gw-1", "batch_id": "b-1", "series": {}}),
    ("series-entry-not-an-object", {"gateway_id": "gw-1", "batch_id": "b-1", "series": [1]}),
    ("series-without-device", {"gateway_id": "gw-1", "batch_id": "b-1", "series": [
        {k: v for k, v in _r().items() if k != "device"}]}),
    ("readings-key-ignored", {"gateway_id": "gw-1", "batch_id": "b-1", "readings": 5,
                              "series": [_r()]}),
    ("nan-value", {"gateway_id": "gw-1", "batch_id": "b-1", "series": [
        {**_r(), "value": [float("nan")]}]}),
    ("binary-device", {"gateway_id": "gw-1", "batch_id": "b-1", "series": [
        {**_r(), "device": b"d1"}]}),
    ("control-character", {"gateway_id": "gw-1", "batch_id": "b-1", "series": [
        {**_r(), "sensor": "a\nb"}]}),
]


def _entry(name: str, body: Any, expect_json: dict[str, Any] | None,
           limits: dict[str, int]) -> dict[str, Any] | None:
    try:
        packed = msgspec.msgpack.encode(body)
    except UnicodeEncodeError:
        return None  # a lone surrogate: MessagePack strings are UTF-8
    text = json.dumps(body, ensure_ascii=False, default=lambda b: b.decode())
    got = {"msgpack": verdict(packed, MSGPACK, limits),
           "json": verdict(text.encode(), COMPACT_JSON, limits)}
    if expect_json is not None:
        if expect_json["status"] == 200 and got["msgpack"] != expect_json:
            raise SystemExit(f"{name}: the compact verdict {got} is not the JSON one")
        if expect_json["status"] != got["msgpack"]["status"]:
            return None  # an envelope problem the compact form words differently
    return {"name": name, "body": text, "body_b64": base64.b64encode(packed).decode(),
            "expect": got}


def render() -> str:
    doc = json.loads(SOURCE.read_text(encoding="utf-8"))
    limits = doc["limits"]
    vectors = []
    for v in doc["vectors"]:
        if v["expect"]["status"] == 413 and v["expect"].get("detail") is None:
            continue
        try:
            body = json.loads(v["body"])
        except (ValueError, RecursionError):  # not JSON, or nested past any parser's depth
            continue
        form = compact(body) if isinstance(body, dict) else None
        if form is not None and (entry := _entry(v["name"], form, v["expect"], limits)):
            vectors.append(entry)
    vectors += [e for name, body in OWN if (e := _entry(name, body, None, limits))]
    out = {"version": doc["version"], "gateway_id": doc["gateway_id"], "limits": limits,
           "media_types": {"json": COMPACT_JSON, "msgpack": MSGPACK}, "vectors": vectors}
    return json.dumps(out, indent=1, ensure_ascii=True) + "\n"


def main() -> None:
    OUT.write_text(render(), encoding="utf-8")


if __name__ == "__main__":
    main()
