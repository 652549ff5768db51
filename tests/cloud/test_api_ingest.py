"""POST /v1/ingest through real uvicorn: auth, idempotency rules, limits, rejections, outages."""

from __future__ import annotations

import gzip
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from cloud.store import SQLiteStore
from tests.cloud.conftest import reading
from tests.support.metrics import sample_totals

T0 = 1_700_000_000_000


def _readings(n: int, device: str = "d1", sensor: str = "temp") -> list[dict]:
    return [reading(device, sensor, T0 + i * 1000, float(i), i) for i in range(n)]


def _count(cloud, device="d1", sensor="temp") -> float:
    r = cloud.get("/v1/series", device=device, sensor=sensor, start=str(T0 - 1),
                  end=str(T0 + 86_400_000), agg="count", every="1d")
    assert r.status_code == 200, r.text
    return sum(r.json()["count"])


def test_batch_is_stored_once_and_the_response_replayed(cloud):
    body = cloud.batch(_readings(50), [{"device": "d1", "sensor": "temp", "ts": T0, "value": 9.5,
                                        "score": 0.97, "detector": "hst", "expected_low": 0.0,
                                        "expected_high": 2.0, "site": None}])
    first = cloud.ingest(body, key="k-1", compress=True)
    assert first.status_code == 200, first.text
    assert first.json() == {"accepted": 50, "rejected": [], "anomalies_accepted": 1,
                            "anomalies_rejected": []}
    again = cloud.ingest(body, key="k-1")  # plain this time, and re-serialised: same body
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    # A new key with the same readings is stored again: harmless, nothing is doubled.
    assert cloud.ingest(body, key="k-2").status_code == 200
    assert _count(cloud) == 50
    (anomaly,) = cloud.get("/v1/anomalies", start=str(T0), end=str(T0 + 1)).json()
    assert anomaly == body["anomalies"][0]


def test_same_key_with_another_body_is_422(cloud):
    assert cloud.ingest(cloud.batch(_readings(3)), key="k").status_code == 200
    r = cloud.ingest(cloud.batch(_readings(4)), key="k")
    assert r.status_code == 422
    assert "different body" in r.json()["detail"]
    assert _count(cloud) == 3


def test_auth_and_key_are_required(cloud):
    body = cloud.batch(_readings(1))
    assert cloud.ingest(body, key=None).status_code == 400
    assert cloud.ingest(body, token="nonsense").status_code == 401
    r = httpx.post(f"{cloud.url}/v1/ingest", json=body, headers={"Idempotency-Key": "k"})
    assert r.status_code == 401 and r.headers["WWW-Authenticate"] == "Bearer"
    assert cloud.ingest(cloud.batch(_readings(1), gateway_id="gw-other")).status_code == 403
    info, other = cloud.services.tokens.create("gw-2")
    cloud.services.tokens.revoke(info.token_id)
    assert cloud.ingest(cloud.batch(_readings(1), gateway_id="gw-2"), token=other
                        ).status_code == 403
    assert _count(cloud) == 0


def test_bad_readings_are_rejected_alone_and_dead_lettered(cloud):
    rs = _readings(6)
    rs[1]["value"] = "hot"
    rs[2]["ts"] = 5  # before 2000-01-01
    rs[3]["device"] = "new\nline"
    rs[4]["value"] = float("nan")
    del rs[5]["seq"]
    body = cloud.batch(rs, [{"device": "d1"}])
    raw = json.dumps(body).replace("NaN", "NaN").encode()
    r = cloud.ingest(raw, key="k")
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["accepted"] == 1
    assert [x["index"] for x in out["rejected"]] == [1, 2, 3, 4, 5]
    assert "value" in out["rejected"][0]["reason"] and "seq" in out["rejected"][4]["reason"]
    assert [x["index"] for x in out["anomalies_rejected"]] == [0]
    dead = cloud.services.dead_letters.recent()
    assert sorted((d["kind"], d["idx"]) for d in dead) == [
        ("anomaly", 0), *[("reading", i) for i in range(1, 6)]]
    metrics = sample_totals(cloud.get("/metrics").text, keep_labels=True)
    assert metrics['iotgw_cloud_ingest_rejected_total{kind="reading",reason="invalid"}'] == 5
    assert metrics["iotgw_cloud_ingest_readings_total"] == 1


def test_surrogates_huge_numbers_and_long_utf8_names_are_rejected_per_reading(cloud):
    raw = json.dumps(cloud.batch(
        [reading("\ud800"), reading(value=1e308), reading(value=10**400, ts=T0 + 1),
         reading(seq=2**40), reading(ts=T0 + 5), reading("é" * 33), reading("é" * 32, ts=T0 + 6),
         reading(unit="°" * 9)],
        [{"device": "d", "sensor": "s", "ts": T0, "value": 1, "score": 1, "detector": "\udfff"}],
    )).encode()
    r = cloud.ingest(raw)
    assert r.status_code == 200, r.text
    assert [x["index"] for x in r.json()["rejected"]] == [0, 2, 3, 5, 7]
    assert "66 bytes of UTF-8" in r.json()["rejected"][3]["reason"]
    assert r.json()["accepted"] == 3 and len(r.json()["anomalies_rejected"]) == 1
    assert cloud.services.dead_letters.count() == 6


def test_bodies_and_batches_over_the_limits(make_cloud):
    cloud = make_cloud(max_body_bytes=4096, max_readings_per_batch=10)
    big = cloud.batch(_readings(60))
    assert cloud.ingest(big).status_code == 413
    # Small compressed, large decompressed: still refused.
    pad = cloud.batch(_readings(1)) | {"sent_at": "x" * 50_000}
    assert cloud.ingest(pad, compress=True).status_code == 413
    assert cloud.ingest(cloud.batch(_readings(11)), compress=True).status_code == 413
    assert cloud.ingest(b"\x1f\x8b not gzip", headers={"Content-Encoding": "gzip"}
                        ).status_code == 400
    assert cloud.ingest(gzip.compress(b"{}")[:-4], headers={"Content-Encoding": "gzip"}
                        ).status_code == 400
    assert cloud.ingest(b"{not json").status_code == 400
    assert cloud.ingest({"gateway_id": "gw-1"}).status_code == 422
    assert cloud.ingest(b"{}", headers={"Content-Encoding": "br"}).status_code == 415
    assert cloud.ingest(cloud.batch(_readings(10)), compress=True).status_code == 200


class GatedStore:
    """A real SQLite store whose writes wait at a gate, to hold a request in flight."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.kind = inner.kind
        self.entered = threading.Event()
        self.gate = threading.Event()

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def write(self, points, anomalies):
        self.entered.set()
        assert self.gate.wait(20)
        return self.inner.write(points, anomalies)


def test_retry_while_in_flight_is_409_and_overload_is_429(make_cloud, tmp_path):
    store = GatedStore(SQLiteStore(tmp_path / "gated.sqlite3"))
    cloud = make_cloud(store=store, max_concurrent_ingest=2)
    body = cloud.batch(_readings(5))
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(cloud.ingest, body, "k")
        try:
            assert store.entered.wait(20)
            retry = cloud.ingest(body, key="k")
            assert retry.status_code == 409 and "Retry-After" in retry.headers
            # A second batch takes the other slot; a third is refused before it is parsed.
            store.entered.clear()
            second = pool.submit(cloud.ingest, cloud.batch(_readings(1), batch_id="b-3"), "k3")
            assert store.entered.wait(20)
            busy = cloud.ingest(cloud.batch(_readings(2), batch_id="b-2"), key="other")
            assert busy.status_code == 429 and busy.headers["Retry-After"] == "5"
        finally:
            store.gate.set()
        assert first.result(20).status_code == 200
        assert second.result(20).status_code == 200
    # The refused request's key was released: its retry is processed normally.
    assert cloud.ingest(cloud.batch(_readings(2), batch_id="b-2"), key="other"
                        ).status_code == 200
    replay = cloud.ingest(body, key="k")
    assert replay.status_code == 200 and replay.headers["Idempotent-Replayed"] == "true"


@pytest.mark.integration
@pytest.mark.faults
def test_influxd_down_is_503_with_retry_after_and_the_retry_succeeds(make_cloud,
                                                                    influxdb_server):
    from tests.conftest import InfluxDatabase

    cloud = make_cloud("influxdb", influx=InfluxDatabase(influxdb_server, "outage"))
    assert cloud.ingest(cloud.batch(_readings(5)), key="k1").status_code == 200
    influxdb_server.stop()
    body = cloud.batch(_readings(20), batch_id="b-2")
    down = cloud.ingest(body, key="k2")
    assert down.status_code == 503
    assert down.headers["Retry-After"] == "5"
    assert cloud.get("/readyz").status_code == 503
    assert cloud.get("/v1/series", device="d1", sensor="temp").status_code == 503
    assert cloud.get("/healthz").status_code == 200
    influxdb_server.start()
    deadline = time.monotonic() + 20
    while cloud.get("/readyz").status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.1)
    up = cloud.ingest(body, key="k2")  # the same key: released by the failure, runs afresh
    assert up.status_code == 200, up.text
    assert up.json()["accepted"] == 20 and "Idempotent-Replayed" not in up.headers
    assert _count(cloud) == 20


@pytest.mark.integration
def test_replicas_sharing_postgres_metadata_replay_each_others_responses(make_cloud, postgres,
                                                                        tmp_path):
    series = tmp_path / "shared-series.sqlite3"
    a = make_cloud(store=SQLiteStore(series), metadata_url=postgres.url)
    b = make_cloud(store=SQLiteStore(series), metadata_url=postgres.url)
    body = a.batch(_readings(8))
    first = a.ingest(body, key="shared")
    assert first.status_code == 200
    again = b.ingest(body, key="shared")  # the gateway's retry landed on the other replica
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert b.ingest(a.batch(_readings(2)), key="shared").status_code == 422
    assert [d["device"] for d in b.get("/v1/devices").json()] == ["d1"]
    assert _count(b) == 8


def test_listeners_see_stored_batches_and_cannot_fail_ingest(cloud):
    seen = []
    cloud.services.ingest.add_listener(seen.append)
    cloud.services.ingest.add_listener(lambda _b: 1 / 0)
    rs = _readings(3)
    rs[1]["value"] = "bad"
    body = cloud.batch(rs, [{"device": "d1", "sensor": "temp", "ts": T0, "value": 2.0,
                             "score": 0.9, "detector": "hst"}])
    assert cloud.ingest(body, key="k").status_code == 200
    assert cloud.ingest(body, key="k").status_code == 200  # a replay stores nothing new
    (batch,) = seen
    assert (batch.gateway_id, batch.batch_id) == ("gw-1", "b-1")
    assert [p.ts_ms for p in batch.points] == [T0, T0 + 2000]
    assert [a.detector for a in batch.anomalies] == ["hst"]
    assert [r.index for r in batch.rejected] == [1]
    metrics = sample_totals(cloud.get("/metrics").text)
    assert metrics["iotgw_cloud_ingest_listener_errors_total"] == 1
