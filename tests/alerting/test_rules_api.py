"""``/v1/rules`` CRUD and validation, alert filters, and the rule evaluator's fast path."""

from __future__ import annotations

import pytest

from cloud.alerting.core.clock import ManualClock
from tests.alerting.harness import T0, Cloud, reading


@pytest.fixture
def cloud(tmp_path):
    with Cloud(tmp_path, ManualClock(T0)) as c:
        yield c


def test_rules_can_be_created_listed_replaced_and_deleted(cloud):
    rid = cloud.rule(name="hot", kind="threshold", limit=80, scope={"site": "plant-*"})
    got = cloud.client.get(f"/v1/rules/{rid}").json()
    assert (got["kind"], got["limit"], got["scope"]["site"], got["severity"]) == (
        "threshold", 80.0, "plant-*", "warning")
    resp = cloud.client.put(f"/v1/rules/{rid}", json={
        "name": "hotter", "kind": "threshold", "limit": 90, "severity": "critical"})
    assert resp.status_code == 200 and resp.json()["limit"] == 90.0
    assert [r["name"] for r in cloud.client.get("/v1/rules").json()] == ["hotter"]
    assert cloud.client.delete(f"/v1/rules/{rid}").status_code == 204
    assert cloud.client.delete(f"/v1/rules/{rid}").status_code == 404
    assert cloud.client.get(f"/v1/rules/{rid}").status_code == 404
    assert cloud.client.put(f"/v1/rules/{rid}", json={
        "name": "x", "kind": "deadman"}).status_code == 404


@pytest.mark.parametrize("spec", [
    {"name": "x", "kind": "threshold", "op": "above", "limit": 80, "clear": 85},  # clear above
    {"name": "x", "kind": "threshold", "op": "outside", "low": 5, "high": 1},
    {"name": "x", "kind": "threshold", "op": "below"},                             # no limit
    {"name": "x", "kind": "rate_of_change"},                                       # no bound
    {"name": "x", "kind": "forecast"},                                             # no limit
    {"name": "x", "kind": "pipeline", "check": "vibes"},
    {"name": "x", "kind": "teleport"},
    {"name": "", "kind": "deadman"},
    {"name": "x", "kind": "deadman", "after_s": -1},
    {"name": "x", "kind": "deadman", "surprise": 1},
])
def test_invalid_rules_get_a_clear_4xx(cloud, spec):
    resp = cloud.client.post("/v1/rules", json=spec)
    assert resp.status_code in (400, 422), resp.text
    assert resp.json()["detail"]
    assert cloud.client.get("/v1/rules").json() == []


def test_alert_filters_and_unknown_alerts(cloud):
    cloud.rule(name="hot", kind="threshold", limit=80, severity="critical",
               scope={"sensor": "temp"})
    cloud.rule(name="low", kind="threshold", op="below", limit=1, scope={"sensor": "flow"})
    now = cloud.clock.now_ms()
    cloud.ingest([reading("a", "temp", now, 90.0), reading("b", "temp", now, 95.0),
                  reading("b", "flow", now, 0.1)])
    assert len(cloud.alerts(state="firing")) == 3
    assert [a["device"] for a in cloud.alerts(severity="critical", device="b")] == ["b"]
    assert cloud.alerts(state="resolved") == []
    assert cloud.client.get("/v1/alerts", params={"state": "bogus"}).status_code == 400
    assert cloud.client.get("/v1/alerts/12345").status_code == 404
    one = cloud.alerts(device="a")[0]
    assert cloud.client.get(f"/v1/alerts/{one['id']}").json()["value"] == 90.0


def test_a_disabled_rule_does_not_evaluate_and_a_template_cannot_reach_objects(cloud):
    cloud.rule(name="off", kind="threshold", limit=1, enabled=False)
    cloud.rule(name="tpl", kind="threshold", limit=50,
               message="{value.__class__} {device!r} {value:.0f}")
    now = cloud.clock.now_ms()
    cloud.ingest([reading("m", "temp", now, 60.0)])
    [alert] = cloud.alerts()
    assert alert["rule_name"] == "tpl"
    assert alert["message"] == "{value.__class__} {device!r} 60"
    assert cloud.alerts()[0]["state"] == "firing"
    evaluator = cloud.alerting.evaluator
    assert evaluator.errors == 0 and evaluator.evaluations >= 1
