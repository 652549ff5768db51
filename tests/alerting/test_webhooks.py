"""Signed webhook deliveries from the durable outbox to a real receiver (uvicorn on loopback):
signatures, stable ids across retries, a receiver that is down, Retry-After, 410, redirects,
the SSRF guard, event filters, manual redelivery, silences and acknowledgements."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import httpx
import numpy as np
import pytest

from cloud.alerting.core.clock import ManualClock, SystemClock
from tests.alerting.harness import ROOT, T0, Cloud, seconds
from tests.alerting.receiver import Receiver
from tests.support.metrics import sample_totals
from tests.support.servers import free_port


@pytest.fixture
def cloud(tmp_path):
    with Cloud(tmp_path, ManualClock(T0)) as c:
        yield c


@pytest.fixture
def receiver(cloud):
    with Receiver(lambda: cloud.clock.now_ms() / 1000) as r:
        yield r


def register(cloud, url, receiver=None, events=("*",)):
    resp = cloud.client.post("/v1/webhooks", json={"url": url, "events": list(events)})
    assert resp.status_code == 201, resp.text
    hook = resp.json()
    assert hook["secret"].startswith("whsec_")
    if receiver is not None:
        receiver.secret = hook["secret"]
    return hook


def overheat(cloud, device="motor-1", start=None):
    """Ten seconds over the limit of a 'hot' rule: fires (for_s is 0)."""
    start = cloud.clock.now_ms() if start is None else start
    ts = seconds(start, 10, 1.0)
    cloud.feed(device, "temp", ts, np.full(10, 95.0), batch=10)


def cool(cloud, device="motor-1"):
    ts = seconds(cloud.clock.now_ms() + 1000, 10, 1.0)
    cloud.feed(device, "temp", ts, np.full(10, 50.0), batch=10)


@pytest.fixture
def hot_rule(cloud):
    return cloud.rule(name="hot", kind="threshold", op="above", limit=90.0, clear=80.0)


def test_deliveries_are_signed_and_the_secret_is_shown_once(cloud, receiver, hot_rule):
    hook = register(cloud, receiver.url, receiver)
    listed = cloud.client.get("/v1/webhooks").json()
    assert [h["id"] for h in listed] == [hook["id"]] and "secret" not in listed[0]
    assert "secret" not in cloud.client.get(f"/v1/webhooks/{hook['id']}").json()
    overheat(cloud)
    cool(cloud)
    assert cloud.deliver() == 2
    assert [r["valid"] for r in receiver.received] == [True, True]
    events = [json.loads(r["body"]) for r in receiver.received]
    assert [e["type"] for e in events] == ["alert.firing", "alert.resolved"]
    assert events[0]["data"]["device"] == "motor-1" and events[0]["data"]["rule_id"] == hot_rule
    sig = receiver.received[0]["headers"]["webhook-signature"]
    assert sig.startswith("v1,") and receiver.received[0]["id"].startswith("msg_")
    deliveries = cloud.client.get(f"/v1/webhooks/{hook['id']}/deliveries").json()
    assert {d["state"] for d in deliveries} == {"delivered"}
    assert all(len(d["attempt_log"]) == 1 for d in deliveries)


def test_a_receiver_that_is_down_gets_the_delivery_once_it_is_back_exactly_once(cloud,
                                                                                 hot_rule):
    port = free_port()
    with Receiver(lambda: cloud.clock.now_ms() / 1000, port=port) as probe:
        url = probe.url   # learn the URL, then take the receiver down
    hook = register(cloud, url)
    overheat(cloud)
    for _ in range(3):   # down: connection refused, retried with backoff
        assert cloud.deliver() == 1
        cloud.clock.advance(seconds=120)
    [d] = cloud.client.get(f"/v1/webhooks/{hook['id']}/deliveries").json()
    assert d["state"] == "pending" and d["attempts"] == 3 and "Connect" in d["last_error"]
    with Receiver(lambda: cloud.clock.now_ms() / 1000, port=port) as back:
        back.secret = hook["secret"]
        cloud.clock.advance(seconds=120)
        assert cloud.deliver() == 1
        for _ in range(3):
            cloud.clock.advance(seconds=3600)
            assert cloud.deliver() == 0
    assert back.ids() == [d["id"]] and back.received[0]["valid"]
    [d] = cloud.client.get(f"/v1/webhooks/{hook['id']}/deliveries").json()
    assert d["state"] == "delivered" and len(d["attempt_log"]) == 4


def test_retries_keep_the_webhook_id_and_honour_retry_after(cloud, receiver, hot_rule):
    register(cloud, receiver.url, receiver)
    receiver.script.extend([(500, {}), (429, {"Retry-After": "600"}),
                            (503, {"Retry-After": "30"})])
    overheat(cloud)
    assert cloud.deliver() == 1          # 500: backoff (at most backoff_max_s = 60 s)
    cloud.clock.advance(seconds=61)
    assert cloud.deliver() == 1          # 429 Retry-After 600
    cloud.clock.advance(seconds=590)
    assert cloud.deliver() == 0          # not before the receiver asked
    cloud.clock.advance(seconds=11)
    assert cloud.deliver() == 1          # 503 Retry-After 30
    cloud.clock.advance(seconds=31)
    assert cloud.deliver() == 1          # 204
    ids = receiver.ids()
    assert len(ids) == 4 and len(set(ids)) == 1
    assert all(r["valid"] for r in receiver.received)
    stamps = [r["headers"]["webhook-timestamp"] for r in receiver.received]
    assert len(set(stamps)) == 4         # each attempt is signed at its own time


def test_410_disables_the_endpoint_and_redirects_are_not_followed(cloud, receiver, hot_rule):
    gone = register(cloud, receiver.url, receiver, events=["alert.firing"])
    receiver.script.append((410, {}))
    overheat(cloud)
    assert cloud.deliver() == 1
    hook = cloud.client.get(f"/v1/webhooks/{gone['id']}").json()
    assert hook["enabled"] is False and "410" in hook["disabled_reason"]
    moved = register(cloud, receiver.url, receiver, events=["alert.resolved"])
    receiver.script.append((307, {"Location": receiver.url.replace("/hook", "/elsewhere")}))
    cool(cloud)
    assert cloud.deliver() == 1
    assert receiver.elsewhere == 0       # not followed
    [d] = cloud.client.get(f"/v1/webhooks/{moved['id']}/deliveries").json()
    assert d["state"] == "pending" and d["last_status"] == 307   # only 2xx counts
    cloud.clock.advance(seconds=61)
    assert cloud.deliver() == 1
    [d] = cloud.client.get(f"/v1/webhooks/{moved['id']}/deliveries").json()
    assert d["state"] == "delivered"
    # The disabled endpoint got nothing more.
    assert [json.loads(r["body"])["type"] for r in receiver.received] == [
        "alert.firing", "alert.resolved", "alert.resolved"]


def test_manual_redelivery_resends_the_same_message(cloud, receiver, hot_rule):
    hook = register(cloud, receiver.url, receiver)
    overheat(cloud)
    assert cloud.deliver() == 1
    [d] = cloud.client.get(f"/v1/webhooks/{hook['id']}/deliveries").json()
    resp = cloud.client.post(f"/v1/webhooks/{hook['id']}/deliveries/{d['id']}/redeliver")
    assert resp.status_code == 202
    assert cloud.deliver() == 1
    assert receiver.ids() == [d["id"], d["id"]]
    assert receiver.received[0]["body"] == receiver.received[1]["body"]
    missing = cloud.client.post(f"/v1/webhooks/{hook['id']}/deliveries/msg_nope/redeliver")
    assert missing.status_code == 404


def test_event_filter_and_acknowledgement(cloud, receiver, hot_rule):
    register(cloud, receiver.url, receiver, events=["alert.acknowledged", "alert.resolved"])
    overheat(cloud)
    assert cloud.deliver() == 0          # firing is not in the filter
    [alert] = cloud.alerts(state="firing")
    acked = cloud.client.post(f"/v1/alerts/{alert['id']}/ack", json={"by": "ops"}).json()
    assert acked["acked_by"] == "ops" and acked["acked_ms"] == cloud.clock.now_ms()
    cool(cloud)
    assert cloud.deliver() == 2
    types = [json.loads(r["body"])["type"] for r in receiver.received]
    assert types == ["alert.acknowledged", "alert.resolved"]
    assert cloud.client.post("/v1/alerts/999/ack").status_code == 404


def test_a_silence_suppresses_then_lets_through(cloud, receiver, hot_rule):
    register(cloud, receiver.url, receiver)
    now = cloud.clock.now_ms()
    resp = cloud.client.post("/v1/silences", json={
        "matcher": {"device": "motor-*", "rule": "hot"}, "ends_ms": now + 600_000,
        "comment": "bearing swap"})
    assert resp.status_code == 201, resp.text
    overheat(cloud, "motor-1")
    overheat(cloud, "pump-1")            # not matched by the silence
    assert cloud.deliver() == 1
    assert json.loads(receiver.received[0]["body"])["data"]["device"] == "pump-1"
    [silenced] = cloud.alerts(device="motor-1")
    assert silenced["state"] == "firing" and silenced["silenced"] is True   # record kept
    cloud.tick()
    assert cloud.deliver() == 0          # still silenced
    cloud.clock.advance(seconds=601)
    cloud.tick()                         # the silence ended: the firing alert is let through
    assert cloud.deliver() == 1
    body = json.loads(receiver.received[1]["body"])
    assert (body["type"], body["data"]["device"]) == ("alert.firing", "motor-1")
    assert [s["id"] for s in cloud.client.get("/v1/silences").json()] == [resp.json()["id"]]


def test_ssrf_guard_refuses_loopback_and_private_targets_unless_allowed(tmp_path):
    with Cloud(tmp_path, ManualClock(T0), webhooks={"allow_loopback": False}) as cloud:
        for url in ("http://127.0.0.1:9/x", "http://localhost:9/x", "http://10.0.0.7/x",
                    "http://169.254.169.254/latest", "http://[::1]:9/x", "file:///etc/passwd"):
            resp = cloud.client.post("/v1/webhooks", json={"url": url})
            assert resp.status_code == 422, (url, resp.text)
        assert cloud.client.get("/v1/webhooks").json() == []


def test_the_example_consumer_verifies_and_rejects_replays(cloud, receiver, hot_rule):
    consumer = __import__("tests.alerting.receiver", fromlist=["consumer"]).consumer
    register(cloud, receiver.url, receiver)
    overheat(cloud)
    assert cloud.deliver() == 1
    [got] = receiver.received
    verifier = consumer.Verifier(receiver.secret, clock=lambda: cloud.clock.now_ms() / 1000)
    assert verifier.verify(got["headers"], got["body"])[1] is True
    assert verifier.verify(got["headers"], got["body"])[1] is False    # replay: not new
    with pytest.raises(consumer.Rejected):
        verifier.verify(got["headers"], got["body"] + b" ")             # tampered
    late = consumer.Verifier(receiver.secret, clock=lambda: cloud.clock.now_ms() / 1000 + 301)
    with pytest.raises(consumer.Rejected):
        late.verify(got["headers"], got["body"])                         # stale timestamp


def test_the_example_consumer_runs_as_a_program(tmp_path):
    """``python examples/webhook_consumer.py`` receives a real delivery (wall clock), prints
    the event once, and refuses a replay with a stale timestamp."""
    with Cloud(tmp_path, ManualClock(SystemClock().now_ms())) as cloud:
        cloud.rule(name="hot", kind="threshold", op="above", limit=90.0)
        port = free_port()
        hook = register(cloud, f"http://127.0.0.1:{port}/")
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "examples" / "webhook_consumer.py"),
             "--secret", hook["secret"], "--port", str(port)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert "listening" in proc.stderr.readline()
            overheat(cloud)
            assert cloud.deliver() == 1
            [d] = cloud.client.get(f"/v1/webhooks/{hook['id']}/deliveries").json()
            assert d["state"] == "delivered" and d["last_status"] == 204
            event = json.loads(proc.stdout.readline())
            assert event["type"] == "alert.firing" and event["data"]["device"] == "motor-1"
            body = json.dumps(d["payload"]).encode()
            stale = httpx.post(f"http://127.0.0.1:{port}/", content=body, headers={
                "webhook-id": d["id"], "webhook-timestamp": str(int(time.time()) - 3600),
                "webhook-signature": "v1,AAAA"}, trust_env=False)
            assert stale.status_code == 400
        finally:
            proc.terminate()
            proc.wait(10)
            proc.stdout.close()
            proc.stderr.close()


def test_deleting_an_endpoint_drops_its_pending_deliveries_and_silences_validate(
        cloud, receiver, hot_rule):
    hook = register(cloud, receiver.url, receiver)
    overheat(cloud)
    assert cloud.client.delete(f"/v1/webhooks/{hook['id']}").status_code == 204
    assert cloud.deliver() == 0
    assert receiver.received == []
    assert cloud.client.delete(f"/v1/webhooks/{hook['id']}").status_code == 404
    assert cloud.client.get(f"/v1/webhooks/{hook['id']}/deliveries").status_code == 404
    now = cloud.clock.now_ms()
    past = cloud.client.post("/v1/silences", json={"ends_ms": now - 1})
    assert past.status_code == 422 and "future" in past.json()["detail"]
    backwards = cloud.client.post("/v1/silences", json={"starts_ms": now, "ends_ms": now})
    assert backwards.status_code in (400, 422)
    sid = cloud.client.post("/v1/silences", json={"ends_ms": now + 1000}).json()["id"]
    assert cloud.client.delete(f"/v1/silences/{sid}").status_code == 204
    assert cloud.client.delete(f"/v1/silences/{sid}").status_code == 404


def test_alerting_and_webhook_metrics(cloud, receiver, hot_rule):
    """/metrics reports alerts by state, the outbox depth, deliveries by outcome and the
    evaluation time."""
    register(cloud, receiver.url, receiver)
    overheat(cloud)
    m = sample_totals(cloud.client.get("/metrics").text, keep_labels=True)
    assert m['iotgw_cloud_alerts{state="firing"}'] == 1
    assert m['iotgw_cloud_alerts{state="resolved"}'] == 0
    assert m["iotgw_cloud_webhook_outbox_pending"] == 1
    assert m['iotgw_cloud_rule_evaluation_duration_seconds_count{mode="arrival"}'] >= 1
    cool(cloud)
    assert cloud.deliver() == 2
    cloud.tick()
    m = sample_totals(cloud.client.get("/metrics").text, keep_labels=True)
    assert m['iotgw_cloud_alerts{state="firing"}'] == 0
    assert m['iotgw_cloud_alerts{state="resolved"}'] == 1
    assert m["iotgw_cloud_webhook_outbox_pending"] == 0
    assert m['iotgw_cloud_webhook_deliveries_total{outcome="delivered"}'] == 2
    assert m['iotgw_cloud_rule_evaluation_duration_seconds_count{mode="schedule"}'] == 1
