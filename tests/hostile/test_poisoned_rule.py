"""A rule poisoned in the table (written around the API) is skipped and reported; every other
rule keeps firing, through the real ingest path, and the rules API keeps answering."""

from __future__ import annotations

import json
import logging

import pytest
from sqlalchemy import insert, update

from cloud.alerting.core.clock import ManualClock
from cloud.alerting.rules.tables import rules as t_rules
from tests.alerting.harness import T0, Cloud, reading


@pytest.fixture
def cloud(tmp_path):
    with Cloud(tmp_path, ManualClock(T0)) as c:
        yield c


def poison(cloud: Cloud, rule_id: str, **spec_changes: object) -> None:
    """Rewrite a stored rule's specification directly in the table (as SQL by hand, or an
    older release, could), bypassing every check of the API."""
    engine = cloud.services.alerting.engine
    spec = json.loads(cloud.client.get(f"/v1/rules/{rule_id}").text)
    for key in ("id", "created_ms", "updated_ms"):
        spec.pop(key)
    spec.update(spec_changes)
    with engine.begin() as conn:
        conn.execute(update(t_rules).where(t_rules.c.id == rule_id).values(
            spec=json.dumps(spec, allow_nan=True)))


def test_a_poisoned_rule_leaves_every_other_rule_firing(cloud, caplog):
    hot = cloud.rule(kind="threshold", name="hot", op="above", limit=50.0)
    cold = cloud.rule(kind="threshold", name="cold", op="below", limit=-10.0)
    nan_limit = cloud.rule(kind="threshold", name="nan limit", op="above", limit=1.0)
    huge_format = cloud.rule(kind="threshold", name="huge format", op="above", limit=2.0)
    poison(cloud, nan_limit, limit=float("nan"))
    poison(cloud, huge_format, message="{value:999999999}")
    with cloud.services.alerting.engine.begin() as conn:
        conn.execute(insert(t_rules).values(
            id="rule_garbage", name="garbage", kind="threshold", spec="{not json",
            enabled=True, created_ms=T0, updated_ms=T0))
    broken = {"rule_garbage", nan_limit, huge_format}

    with caplog.at_level(logging.ERROR, logger="cloud.alerting.rules.store"):
        cloud.ingest([reading("m-1", "t", T0, 99.0), reading("m-2", "t", T0, -20.0)])
    alerts = {a["rule_id"]: a for a in cloud.alerts()}
    assert set(alerts) == {hot, cold}
    assert all(a["state"] == "firing" for a in alerts.values())
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert all(rid in logged for rid in broken)

    listed = cloud.client.get("/v1/rules")
    assert listed.status_code == 200
    errors = {r["id"]: r.get("load_error") for r in listed.json()}
    assert {rid for rid, e in errors.items() if e} == broken
    assert "limit" in errors[nan_limit] and "width" in errors[huge_format]
    one = cloud.client.get(f"/v1/rules/{nan_limit}")
    assert one.status_code == 200 and one.json()["load_error"]

    health = cloud.client.get("/v1/pipeline/health").json()
    assert {r["id"] for r in health["rules"]["broken"]} == broken
    assert health["rules"]["loaded"] == 2 and health["status"] == "degraded"

    # Fixing a broken rule through the API brings it back; deleting one removes it.
    fixed = cloud.client.put(f"/v1/rules/{nan_limit}", json={
        "kind": "threshold", "name": "nan limit", "op": "above", "limit": 1.0})
    assert fixed.status_code == 200
    assert cloud.client.delete("/v1/rules/rule_garbage").status_code == 204
    cloud.ingest([reading("m-3", "t", T0 + 1000, 5.0)])
    assert any(a["rule_id"] == nan_limit for a in cloud.alerts())
    health = cloud.client.get("/v1/pipeline/health").json()
    assert [r["id"] for r in health["rules"]["broken"]] == [huge_format]


def test_a_clock_running_ahead_cannot_make_a_device_look_fresh(cloud):
    quiet = cloud.rule(kind="deadman", name="quiet", after_s=60.0)
    ahead = T0 + 50 * 60_000  # 50 minutes ahead: within the future-skew limit, so accepted
    cloud.ingest([reading("clock-ahead", "t", ahead, 1.0)])
    stale_after_s = cloud.services.settings.alerting.stale_after_s
    cloud.clock.set(T0 + round(max(stale_after_s, 60.0) * 1000) + 1000)
    cloud.tick()
    health = cloud.client.get("/v1/pipeline/health").json()
    [device] = health["freshness"]["devices"]
    assert device["device"] == "clock-ahead" and device["stale"]
    assert [a["rule_id"] for a in cloud.alerts(state="firing")] == [quiet]
