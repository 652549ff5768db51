"""One suite, three implementations: every vector gets the same verdict from the contract's
validators, the cloud (the real app on SQLite), and the test sink; and the gateway's batch
builder turns the valid vectors' records into a body the contract accepts as the same records.

Each implementation runs over every vector in one test (one server each), and the test lists
every vector that got another verdict, so one drift shows the whole picture.
"""

from __future__ import annotations

import gzip
import json
from typing import Any

import httpx
import pytest

from firmware_protocol.model import Message, Quality, Reading
from gateway.buffer import Lane, Row
from gateway.decoding import reading_objects
from gateway.scoring import AnomalyEvent
from gateway.uplink.base import build_batch
from ingest_protocol import EnvelopeRejected, judge
from ingest_protocol.encode import anomaly_object
from tests.ingest_protocol.conftest import DOC, LIMITS, VECTORS, matches, outcome

GZIP = [False, True]


def _contract(raw: bytes) -> dict[str, Any]:
    if len(raw) > LIMITS["max_body_bytes"]:
        return {"status": 413, "detail": None}
    try:
        verdict = judge(raw, LIMITS["max_readings_per_batch"], LIMITS["max_anomalies_per_batch"])
    except EnvelopeRejected as exc:
        return {"status": exc.status, "detail": exc.detail}
    return {"status": 200, "response": verdict.response()}


def _post(client: httpx.Client, url: str, token: str, raw: bytes, key: str,
          compress: bool) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json",
               "Idempotency-Key": key}
    if compress:
        raw = gzip.compress(raw)
        headers["Content-Encoding"] = "gzip"
    r = client.post(f"{url}/v1/ingest", content=raw, headers=headers)
    return outcome(r.status_code, r.json())


def _drift(answer: Any) -> list[str]:
    out = []
    for compress in GZIP:
        for v in VECTORS:
            got = answer(v["body"].encode("utf-8"), f"{v['name']}-{compress}", compress)
            if not matches(v["expect"], got):
                out.append(f"{v['name']} (gzip={compress}): expected {v['expect']}, got {got}")
    return out


def test_the_vectors_cover_every_verdict():
    statuses = {v["expect"]["status"] for v in VECTORS}
    assert statuses == {200, 400, 413, 422}
    assert DOC["gateway_id"] == "gw-1"
    assert any(v["expect"].get("response", {}).get("anomalies_rejected") for v in VECTORS)


def test_the_contract_gives_every_vector_its_verdict():
    assert _drift(lambda raw, _key, _compress: _contract(raw)) == []


def test_the_cloud_gives_every_vector_its_verdict(make_cloud):
    # The vectors reach 2100: the clock-skew rule (not in the vectors) must not apply.
    cloud = make_cloud("sqlite", max_future_skew_s=200 * 365 * 86400, **LIMITS)
    assert cloud.gateway_id == DOC["gateway_id"]
    assert _drift(lambda raw, key, compress: _post(
        cloud.http, cloud.url, cloud.token, raw, key, compress)) == []


def test_the_test_sink_gives_every_vector_its_verdict(limited_sink):
    client, sink = limited_sink
    assert _drift(lambda raw, key, compress: _post(
        client, sink.url, sink.token, raw, key, compress)) == []


# -- the gateway's batch builder --------------------------------------------------------------

READING_DEFAULTS = {"unit": None, "quality": 0, "site": None}
ANOMALY_DEFAULTS = {"expected_low": None, "expected_high": None, "site": None}


def _records(entries: list[Any], defaults: dict[str, Any]) -> list[dict[str, Any]]:
    """Validated entries with the optional fields' defaults filled in (absent == default)."""
    return [{**defaults, **entry} for entry in entries]


def _rows(body: dict[str, Any]) -> list[Row]:
    """The buffer rows a gateway would hold for the body's records, serialised its way."""
    rows = []
    for i, r in enumerate(body["readings"]):
        msg = Message(r["device"], r["seq"], r["ts"], (
            Reading(r["sensor"], r["value"], unit=r.get("unit"),
                    quality=Quality(r.get("quality", 0))),), site=r.get("site"))
        rows.append(Row(i, Lane.BULK, msg.device, 1, 0, 1_700_000_000_000,
                        reading_objects(msg)))
    for i, a in enumerate(body.get("anomalies", [])):
        event = AnomalyEvent.from_dict(a)
        rows.append(Row(1000 + i, Lane.PRIORITY, event.device, 1, 0, 1_700_000_000_000,
                        anomaly_object(event)))
    return rows


CANONICAL = [v for v in VECTORS if v.get("canonical")]


@pytest.mark.parametrize("vector", CANONICAL, ids=[v["name"] for v in CANONICAL])
def test_the_gateway_builds_a_valid_batch_of_the_same_records(vector):
    body = json.loads(vector["body"])
    batch = build_batch(DOC["gateway_id"], _rows(body))
    assert _contract(batch.body) == vector["expect"]
    sent = judge(batch.body, LIMITS["max_readings_per_batch"],
                 LIMITS["max_anomalies_per_batch"])
    want = judge(vector["body"].encode(), LIMITS["max_readings_per_batch"],
                 LIMITS["max_anomalies_per_batch"])
    assert sent.envelope.gateway_id == DOC["gateway_id"] and sent.envelope.v == 1
    assert _records(sent.readings.entries, READING_DEFAULTS) == _records(
        want.readings.entries, READING_DEFAULTS)
    assert _records(sent.anomalies.entries, ANOMALY_DEFAULTS) == _records(
        want.anomalies.entries, ANOMALY_DEFAULTS)
    assert (batch.readings, batch.anomalies) == (len(body["readings"]),
                                                 len(body.get("anomalies", [])))
