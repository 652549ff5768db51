"""``/v1/fleet`` and ``/v1/pipeline/gateways`` through real uvicorn (and the view's arithmetic)."""

from __future__ import annotations

import time

from cloud.fleet import FleetView
from cloud.meta import DeviceInfo
from tests.cloud.conftest import reading

HOUR = 3_600_000


def test_fleet_shows_freshness_open_alerts_and_anomalies_of_the_last_day(make_cloud) -> None:
    cloud = make_cloud("sqlite")
    now = int(time.time() * 1000)
    r = cloud.http.post("/v1/rules", json={"name": "hot", "kind": "threshold", "op": "above",
                                           "limit": 50.0, "scope": {"sensor": "temp"}})
    assert r.status_code == 201, r.text
    readings = [reading("fresh", "temp", now - 60_000, 60.0, 0, site="s1"),
                reading("fresh", "rpm", now - 60_000, 1.0, 1, site="s1"),
                reading("old", "temp", now - 2 * HOUR, 20.0, 0)]
    def anomaly(device: str, ts: int) -> dict:
        return {"device": device, "sensor": "temp", "ts": ts, "value": 1.0, "score": 0.9,
                "detector": "hst"}

    anomalies = [anomaly("fresh", now - HOUR), anomaly("fresh", now - 2 * HOUR),
                 anomaly("fresh", now - 30 * HOUR), anomaly("old", now - 3 * HOUR)]
    r = cloud.ingest(cloud.batch(readings, anomalies))
    assert r.status_code == 200, r.text
    r = cloud.get("/v1/fleet")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["stale_after_s"] == 300.0 and body["anomalies_capped"] is False
    by = {d["device"]: d for d in body["devices"]}
    assert list(by) == ["fresh", "old"]
    assert by["fresh"] | {"last_ingest": 0, "seconds_since": 0} == {
        "device": "fresh", "site": "s1", "gateway_id": "gw-1", "sensors": ["rpm", "temp"],
        "last_seen": now - 60_000, "last_ingest": 0, "seconds_since": 0, "stale": False,
        "open_alerts": 1, "firing_alerts": 1, "anomalies_24h": 2}
    assert by["old"]["stale"] is True and by["old"]["open_alerts"] == 0
    assert by["old"]["anomalies_24h"] == 1 and by["old"]["seconds_since"] >= 7200


def test_pipeline_gateways_lists_each_gateway_with_its_devices(make_cloud) -> None:
    cloud = make_cloud("sqlite")
    now = int(time.time() * 1000)
    _info, other = cloud.services.tokens.create("gw-2")
    assert cloud.ingest(cloud.batch([reading("a", "t", now, 1.0, 0),
                                     reading("b", "t", now, 1.0, 0)])).status_code == 200
    body = cloud.batch([reading("c", "t", now, 1.0, 0)], batch_id="b-2", gateway_id="gw-2")
    assert cloud.ingest(body, key="key-2", token=other).status_code == 200
    r = cloud.get("/v1/pipeline/gateways")
    assert r.status_code == 200, r.text
    rows = {g["gateway_id"]: g for g in r.json()}
    assert {k: v["devices"] for k, v in rows.items()} == {"gw-1": 2, "gw-2": 1}
    assert rows["gw-1"]["bucket_s"] == 60.0 and rows["gw-1"]["last_ingest"] >= now - 60_000


class _Registry:
    def list(self, device: str | None = None) -> list[DeviceInfo]:
        def info(name: str, gw: str | None) -> DeviceInfo:
            return DeviceInfo(name, None, gw, 0, 1_000, 2_000)

        return [info("a", "gw-1"), info("b", "gw-1"), info("c", "gw-2"), info("d", None)]


class _Health:
    def report(self) -> dict:
        return {"volume": {"bucket_s": 30.0, "devices": [
            {"device": "a", "bucket_ms": 60_000, "readings": 300},
            {"device": "b", "bucket_ms": 60_000, "readings": 150},
            {"device": "c", "bucket_ms": 60_000, "readings": 30}]}}


def test_gateway_rate_is_its_devices_readings_over_the_bucket() -> None:
    view = FleetView(_Registry(), None, None, _Health(), 300.0, lambda: 0)  # type: ignore[arg-type]
    rates = {g.gateway_id: (g.devices, g.readings, g.readings_per_s) for g in view.gateways()}
    assert rates == {"gw-1": (2, 450, 15.0), "gw-2": (1, 30, 1.0), "(unknown)": (1, 0, 0.0)}
