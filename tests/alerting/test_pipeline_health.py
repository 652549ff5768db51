"""``GET /v1/pipeline/health`` (freshness, volume, schema changes, SLA) fed by real ingest, and
``pipeline`` rules raising alerts from it through the same lifecycle."""

from __future__ import annotations

import numpy as np
import pytest

from cloud.alerting.core.clock import ManualClock
from cloud.alerting.core.listener import IngestedReading
from tests.alerting.harness import T0, Cloud, reading, states

MIN = 60_000


@pytest.fixture
def cloud(tmp_path):
    with Cloud(tmp_path, ManualClock(T0), stale_after_s=120, sensor_vanished_after_s=300,
               bucket_s=60, volume_baseline_buckets=5, sla_queryable_s=30) as c:
        yield c


def health(cloud):
    resp = cloud.client.get("/v1/pipeline/health")
    assert resp.status_code == 200, resp.text
    return resp.json()


def minute(cloud, m, device, n, sensors=("temp",), unit="Cel"):
    """``n`` readings per sensor stamped in minute ``m``, received at the minute's end."""
    start = T0 + m * MIN
    cloud.clock.set(start + MIN - 1)
    ts = start + np.arange(n) * (MIN // n)
    cloud.ingest([reading(device, s, int(t), 20.0, unit) for s in sensors for t in ts])


def test_freshness_and_a_stale_device_alert(cloud):
    rid = cloud.rule(name="stale", kind="pipeline", check="stale", severity="critical")
    minute(cloud, 0, "plc-1", 6)
    minute(cloud, 0, "plc-2", 6)
    minute(cloud, 3, "plc-1", 6)
    report = health(cloud)
    fresh = {d["device"]: d for d in report["freshness"]["devices"]}
    assert fresh["plc-1"]["stale"] is False and fresh["plc-2"]["stale"] is True
    assert fresh["plc-2"]["age_s"] > 120 and report["status"] == "degraded"
    cloud.tick()
    [alert] = cloud.alerts(state="firing")
    assert (alert["rule_id"], alert["device"]) == (rid, "plc-2")
    assert "no data from plc-2" in alert["message"]
    minute(cloud, 4, "plc-2", 6)
    cloud.tick()
    assert states(cloud.alerts()) == ["resolved"]


def test_volume_drops_and_surges_against_the_rolling_baseline(cloud):
    for m in range(6):
        minute(cloud, m, "line-1", 60)
    minute(cloud, 6, "line-1", 10)           # a drop
    cloud.clock.set(T0 + 7 * MIN + 1)
    [entry] = health(cloud)["volume"]["devices"]
    assert (entry["readings"], entry["baseline"], entry["verdict"]) == (10, 60.0, "drop")
    minute(cloud, 7, "line-1", 300)          # a surge
    cloud.clock.set(T0 + 8 * MIN + 1)
    [entry] = health(cloud)["volume"]["devices"]
    assert entry["verdict"] == "surge"
    minute(cloud, 8, "line-1", 60)
    cloud.clock.set(T0 + 9 * MIN + 1)
    [entry] = health(cloud)["volume"]["devices"]
    assert entry["verdict"] == "ok"


def test_schema_changes_new_changed_and_vanished_sensors_raise_alerts(cloud):
    cloud.rule(name="schema", kind="pipeline", check="schema", severity="info")
    minute(cloud, 0, "hvac-1", 4, sensors=("temp", "rh"))
    assert health(cloud)["schema"]["changes"] == []       # a new device's sensors are not news
    minute(cloud, 1, "hvac-1", 4, sensors=("temp", "co2"))   # co2 is new
    minute(cloud, 2, "hvac-1", 4, sensors=("temp",), unit="degF")   # unit changed
    for m in range(4, 9):
        minute(cloud, m, "hvac-1", 4, sensors=("temp",), unit="degF")
    report = health(cloud)["schema"]
    changes = {(c["sensor"], c["change"]) for c in report["changes"]}
    assert {("co2", "new_sensor"), ("temp", "unit_changed")} <= changes
    assert {v["sensor"] for v in report["vanished"]} == {"rh", "co2"}
    cloud.tick()
    firing = {(a["sensor"], a["severity"]) for a in cloud.alerts(state="firing")}
    assert {("rh", "info"), ("co2", "info"), ("temp", "info")} <= firing


def test_sla_on_time_share_and_ingest_availability(cloud):
    cloud.rule(name="sla", kind="pipeline", check="sla")
    now = cloud.clock.now_ms()
    cloud.ingest([reading("gw-dev", "temp", now - 5000 - i, 1.0) for i in range(90)])
    late = now - 10 * MIN                    # arrived 10 min after it was measured
    cloud.ingest([reading("gw-dev-late", "temp", late - i, 1.0) for i in range(10)])
    cloud.services.store.stop()              # the store goes down: ingest answers 503
    resp = cloud.client.post("/v1/ingest", json={
        "gateway_id": "gw-test", "batch_id": "b-down",
        "readings": [reading("gw-dev", "temp", T0 + 5, 1.0)]},
        headers={"Authorization": f"Bearer {cloud.token}", "Idempotency-Key": "b-down"})
    assert resp.status_code == 503
    cloud.services.store.start()
    sla = health(cloud)["sla"]
    assert sla["readings"] == 100 and sla["on_time_share"] == pytest.approx(0.9)
    assert (sla["requests_ok"], sla["requests_failed"]) == (2, 1)
    assert sla["availability"] == pytest.approx(2 / 3) and sla["ok"] is False
    cloud.tick()
    assert {a["sensor"] for a in cloud.alerts(state="firing")} == {"on_time", "availability"}


def test_a_value_type_change_is_a_schema_change(cloud):
    """Booleans reach the store as 1.0/0.0, so the type is seen where the listener is given
    the original values (``IngestedReading``), e.g. by a future ingest seam carrying them."""
    recorder = cloud.alerting.recorder
    recorder.record([IngestedReading("valve-1", "open", T0, 0.5)], [], T0)
    recorder.record([IngestedReading("valve-1", "open", T0 + 1, True)], [], T0 + MIN)
    cloud.clock.set(T0 + MIN)
    changes = health(cloud)["schema"]["changes"]
    assert [(c["change"], c["detail"]) for c in changes] == [
        ("type_changed", {"from": "number", "to": "bool"})]
