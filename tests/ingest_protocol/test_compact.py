"""The lean parsers as a fourth implementation of the contract, and the compact batch's vectors
through the contract, the cloud and the test sink (both compact media types, gzip or not).

The fast parsers (:mod:`ingest_protocol.fast`, :mod:`ingest_protocol.compact`) must never
accept what the exact path refuses: every JSON vector gets its verdict through them, and each
vector they take as valid is also one the exact path accepts whole.
"""

from __future__ import annotations

import base64
import gzip
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

import ingest_protocol
from ingest_protocol import EnvelopeRejected, judge
from ingest_protocol.compact import COMPACT_JSON, MSGPACK, compact_body, group_entries, parse
from ingest_protocol.fast import parse_json
from ingest_protocol.receive import judge_any
from tests.ingest_protocol.conftest import LIMITS, VECTORS, matches, outcome
from tests.ingest_protocol.test_conformance import CANONICAL, _rows

COMPACT_DOC: dict[str, Any] = json.loads(
    (Path(ingest_protocol.__file__).parent / "vectors" / "compact.json").read_text("utf-8"))
COMPACT = COMPACT_DOC["vectors"]
MEDIA = {"json": COMPACT_JSON, "msgpack": MSGPACK}


def _verdict(raw: bytes, media: str | None) -> dict[str, Any]:
    if len(raw) > LIMITS["max_body_bytes"]:
        return {"status": 413, "detail": None}
    try:
        v = judge_any(raw, media, LIMITS["max_readings_per_batch"],
                      LIMITS["max_anomalies_per_batch"])
    except EnvelopeRejected as exc:
        return {"status": exc.status, "detail": exc.detail}
    return {"status": 200, "response": v.response()}


def _body(v: dict[str, Any], kind: str) -> bytes:
    return base64.b64decode(v["body_b64"]) if kind == "msgpack" else v["body"].encode()


def _compact_drift(answer: Any) -> list[str]:
    out = []
    for kind in MEDIA:
        for v in COMPACT:
            got = answer(_body(v, kind), MEDIA[kind], f"{v['name']}-{kind}")
            if not matches(v["expect"][kind], got):
                out.append(f"{v['name']} ({kind}): expected {v['expect'][kind]}, got {got}")
    return out


def test_the_fast_parsers_give_every_json_vector_its_verdict():
    drift = [v["name"] for v in VECTORS
             if not matches(v["expect"], _verdict(v["body"].encode(), None))]
    assert drift == []


def test_what_the_fast_parsers_accept_the_exact_path_accepts_whole():
    taken = 0
    for v in VECTORS:
        raw = v["body"].encode()
        if parse_json(raw) is not None:
            taken += 1
            exact = judge(raw, 10**6, 10**6).response()
            assert not exact["rejected"] and not exact["anomalies_rejected"], v["name"]
    assert taken >= 5  # the common bodies do take the fast path
    for v in COMPACT:
        raw = base64.b64decode(v["body_b64"])
        expect = v["expect"]["msgpack"]
        if parse(raw, MSGPACK) is not None and expect["status"] != 413:  # 413: batch limits
            assert not expect["response"]["rejected"], v["name"]


def test_the_contract_gives_every_compact_vector_its_verdict():
    assert len(COMPACT) >= 30
    assert _compact_drift(lambda raw, media, _key: _verdict(raw, media)) == []


def _post(client: httpx.Client, url: str, token: str, raw: bytes, media: str, key: str
          ) -> dict[str, Any]:
    r = client.post(f"{url}/v1/ingest", content=gzip.compress(raw), headers={
        "Authorization": f"Bearer {token}", "Content-Type": media, "Idempotency-Key": key,
        "Content-Encoding": "gzip"})
    return outcome(r.status_code, r.json())


def test_the_cloud_gives_every_compact_vector_its_verdict(make_cloud):
    # The vectors reach 2100: the clock-skew rule (not in the vectors) must not apply.
    cloud = make_cloud("sqlite", max_future_skew_s=200 * 365 * 86400, **LIMITS)
    assert _compact_drift(lambda raw, media, key: _post(
        cloud.http, cloud.url, cloud.token, raw, media, key)) == []


def test_the_test_sink_gives_every_compact_vector_its_verdict(limited_sink):
    client, sink = limited_sink
    assert _compact_drift(lambda raw, media, key: _post(
        client, sink.url, sink.token, raw, media, key)) == []


@pytest.mark.parametrize("vector", CANONICAL, ids=[v["name"] for v in CANONICAL])
def test_the_gateway_builds_a_compact_batch_of_the_same_records(vector):
    from gateway.uplink.base import build_batch

    body = json.loads(vector["body"])
    rows = _rows(body)
    batch = build_batch(COMPACT_DOC["gateway_id"], rows, "msgpack")
    assert batch.content_type == MSGPACK
    assert batch.body == build_batch(COMPACT_DOC["gateway_id"], rows, "msgpack").body
    assert batch.key != build_batch(COMPACT_DOC["gateway_id"], rows, "json").key
    sent = judge_any(batch.body, MSGPACK, LIMITS["max_readings_per_batch"],
                     LIMITS["max_anomalies_per_batch"])
    want = judge(vector["body"].encode(), LIMITS["max_readings_per_batch"],
                 LIMITS["max_anomalies_per_batch"])
    assert sent.response() == want.response()

    def norm(entries: list[Any]) -> list[Any]:
        return sorted(json.dumps({"quality": 0, "unit": None, "site": None, **e,
                                  "value": float(e["value"])}, sort_keys=True)
                      for e in entries)

    assert norm(sent.readings.entries) == norm(want.readings.entries)


def test_series_group_in_order_of_first_appearance():
    rs = [{"device": "a", "sensor": "t", "ts": 1, "value": 1.0, "seq": 1},
          {"device": "b", "sensor": "t", "ts": 1, "value": 2.0, "seq": 1, "quality": 2},
          {"device": "a", "sensor": "t", "ts": 2, "value": 3.0, "seq": 2}]
    a, b = group_entries(rs)
    assert (a["device"], a["ts"], a["value"], "quality" in a) == ("a", [1, 2], [1.0, 3.0], False)
    assert (b["device"], b["quality"]) == ("b", [2])


def test_a_receiver_refusing_future_stamps_gets_such_batches_on_the_exact_path():
    from ingest_protocol.receive import fast_batch

    entry = '{"device":"d","sensor":"t","ts":1700000000000,"value":1.5,"seq":1}'
    body = compact_body("gw", "b", 1, [entry], [], MSGPACK)
    assert fast_batch(body, MSGPACK, 1_700_000_000_000)[0] is not None
    batch, raw = fast_batch(body, MSGPACK, 1_699_999_999_999)
    assert batch is None and json.loads(raw)["readings"][0]["ts"] == 1_700_000_000_000


def test_the_sender_groups_alike_however_it_reads_the_entries():
    import random

    import msgspec

    from ingest_protocol.compact import _ENTRIES, _ROWS, _group_structs

    rnd = random.Random(1)
    entries = []
    for i in range(1000):
        e: dict[str, Any] = {"device": rnd.choice("ab"), "sensor": rnd.choice("th"), "ts": i,
                             "value": rnd.choice([1.5, True, 3]), "seq": i}
        for key, choices in (("unit", ["Cel", None]), ("site", ["p", None]), ("quality", [0, 3])):
            if rnd.random() < 0.3:
                e[key] = rnd.choice(choices)
        entries.append(e)
    raw = json.dumps(entries).encode()
    assert msgspec.msgpack.encode(_group_structs(_ENTRIES.decode(raw))) == \
        msgspec.msgpack.encode(group_entries(_ROWS.decode(raw)))
