"""Device ownership through the real ingest path (both stores): a gateway cannot write
another's device; the reading is rejected alone (``device_not_owned``), dead-lettered and
counted, and an admin's binding moves the device."""

from __future__ import annotations

import httpx

from cloud.meta import DeviceOwnership
from tests.cloud.conftest import reading

T0 = 1_700_000_000_000


def _anomaly(device: str) -> dict:
    return {"device": device, "sensor": "temp", "ts": T0, "value": 9.0, "score": 0.99,
            "detector": "hst", "expected_low": 0.0, "expected_high": 1.0, "site": None}


def _last(cloud, device: str) -> list:
    r = cloud.get("/v1/series", device=device, sensor="temp", start=str(T0 - 1),
                  end=str(T0 + 60_000), agg="last", every="1m")
    assert r.status_code == 200, r.text
    return [v for v in r.json()["last"] if v is not None]


def test_one_gateway_cannot_write_another_gateways_device(cloud):
    assert cloud.ingest(cloud.batch([reading("pump-9", "temp", T0, 1.0, 1)])).status_code == 200
    _info, other = cloud.services.tokens.create("gw-2")
    body = cloud.batch([reading("pump-9", "temp", T0, 666.0, 1),
                        reading("fan-2", "temp", T0, 2.0, 1)],
                       [_anomaly("pump-9"), _anomaly("fan-2")], batch_id="b-2",
                       gateway_id="gw-2")
    r = cloud.ingest(body, key="gw2-1", token=other)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["accepted"] == 1 and out["anomalies_accepted"] == 1
    assert [(x["index"], x["reason"].split()[0]) for x in out["rejected"]] == [(0, "device")]
    assert "belongs to another gateway" in out["rejected"][0]["reason"]
    assert [x["index"] for x in out["anomalies_rejected"]] == [0]
    assert _last(cloud, "pump-9") == [1.0]  # gw-1's reading, not overwritten
    assert _last(cloud, "fan-2") == [2.0]  # the rest of the batch is stored
    again = cloud.ingest(body, key="gw2-1", token=other)  # the key still replays
    assert again.json() == out and again.headers["Idempotent-Replayed"] == "true"
    dead = cloud.services.dead_letters.recent()
    assert sorted((d["kind"], d["code"], d["gateway_id"]) for d in dead) == [
        ("anomaly", "device_not_owned", "gw-2"), ("reading", "device_not_owned", "gw-2")]
    metrics = cloud.get("/metrics").text
    assert ('iotgw_cloud_ingest_rejected_total{kind="reading",reason="device_not_owned"} 1.0'
            in metrics)
    [pump] = [d for d in cloud.get("/v1/devices").json() if d["device"] == "pump-9"]
    assert pump["gateway_id"] == "gw-1"  # the registry entry was not taken over


def test_an_admin_binding_moves_a_device_between_gateways(cloud):
    assert cloud.ingest(cloud.batch([reading("pump-9", "temp", T0, 1.0, 1)])).status_code == 200
    _info, other = cloud.services.tokens.create("gw-2")

    def from_gw2(key: str, value: float) -> dict:
        body = cloud.batch([reading("pump-9", "temp", T0 + 1000, value, 2)],
                           batch_id=key, gateway_id="gw-2")
        return cloud.ingest(body, key=key, token=other).json()

    assert from_gw2("k1", 5.0)["accepted"] == 0
    moved = cloud.http.put("/v1/devices/pump-9/owner", json={"gateway_id": "gw-2"})
    assert moved.status_code == 200, moved.text
    assert moved.json()["gateway_id"] == "gw-2" and moved.json()["source"] == "binding"
    assert from_gw2("k2", 5.0)["accepted"] == 1
    late = cloud.ingest(cloud.batch([reading("pump-9", "temp", T0 + 2000, 7.0, 3)],
                                    batch_id="b-late"), key="late")
    assert late.json()["accepted"] == 0 and late.json()["rejected"][0]["index"] == 0
    assert cloud.http.delete("/v1/devices/pump-9/owner").status_code == 204
    assert cloud.http.delete("/v1/devices/pump-9/owner").status_code == 404
    assert cloud.ingest(cloud.batch([reading("pump-9", "temp", T0 + 2000, 7.0, 3)],
                                    batch_id="b-free"), key="free").json()["accepted"] == 1
    reader = cloud.services.tokens.create(scopes=["read"])[1]
    r = httpx.put(f"{cloud.url}/v1/devices/pump-9/owner", json={"gateway_id": "gw-2"},
                  headers={"Authorization": f"Bearer {reader}"})
    assert r.status_code == 403 and "'admin'" in r.text


def test_first_writer_wins_when_two_claim_at_once_and_bindings_reach_other_processes(cloud):
    meta = cloud.services.meta
    a, b = DeviceOwnership(meta, cache_s=3600), DeviceOwnership(meta, cache_s=0)
    assert a.owners("gw-a", ["d1", "d2"]) == {"d1": "gw-a", "d2": "gw-a"}
    assert b.owners("gw-b", ["d2", "d3"]) == {"d2": "gw-a", "d3": "gw-b"}
    b.bind("d1", "gw-b")
    assert b.owners("gw-a", ["d1"]) == {"d1": "gw-b"}  # no cache: sees it at once
    assert a.owners("gw-a", ["d1"]) == {"d1": "gw-a"}  # cached until cache_s
    assert a.get("d1") is not None and a.get("d1").source == "binding"


def test_the_compact_batch_obeys_ownership_too(cloud):
    """The gateway's default encoding (MessagePack, readings per series) takes the lean path;
    another gateway's device is still rejected alone there."""
    import json

    from ingest_protocol.compact import MSGPACK, compact_body

    assert cloud.ingest(cloud.batch([reading("pump-9", "temp", T0, 1.0, 1)])).status_code == 200
    _info, other = cloud.services.tokens.create("gw-2")
    rows = [json.dumps(reading("pump-9", "temp", T0, 666.0, 1)),
            json.dumps(reading("fan-2", "temp", T0, 2.0, 1))]
    body = compact_body("gw-2", "c-1", T0, rows, [])
    r = cloud.ingest(body, key="gw2-c1", token=other, headers={"Content-Type": MSGPACK})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["accepted"] == 1 and [x["index"] for x in out["rejected"]] == [0]
    assert "belongs to another gateway" in out["rejected"][0]["reason"]
    assert _last(cloud, "pump-9") == [1.0] and _last(cloud, "fan-2") == [2.0]


def test_only_ingest_takes_the_compact_media_type(cloud):
    from ingest_protocol.compact import MSGPACK

    r = cloud.http.post("/v1/rules", content=b"\x80", headers={"Content-Type": MSGPACK})
    assert r.status_code == 415
