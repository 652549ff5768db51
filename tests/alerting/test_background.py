"""The background services as deployed: with ``alerting.enabled`` the app's lifespan starts the
scheduled evaluator and the delivery worker, which fire and deliver on their own."""

from __future__ import annotations

import json
import time

from cloud.alerting.core.clock import SystemClock
from tests.alerting.harness import Cloud, reading
from tests.alerting.receiver import Receiver


def wait_for(condition, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_started_services_evaluate_on_schedule_and_deliver_by_themselves(tmp_path):
    clock = SystemClock()
    with Cloud(tmp_path, clock, enabled=True, evaluate_every_s=0.2,
               webhooks={"poll_s": 0.05}) as cloud, Receiver(
            lambda: clock.now_ms() / 1000) as receiver:
        hook = cloud.client.post("/v1/webhooks", json={"url": receiver.url}).json()
        receiver.secret = hook["secret"]
        cloud.rule(name="silent", kind="deadman", after_s=2)
        cloud.ingest([reading("edge-9", "temp", clock.now_ms(), 20.0)])
        assert wait_for(lambda: len(receiver.received) >= 1), "nothing was delivered"
        event = json.loads(receiver.received[0]["body"])
        assert (event["type"], event["data"]["device"]) == ("alert.firing", "edge-9")
        assert receiver.received[0]["valid"]
        cloud.ingest([reading("edge-9", "temp", clock.now_ms(), 20.0)])
        assert wait_for(lambda: len(receiver.received) >= 2)
        assert json.loads(receiver.received[1]["body"])["type"] == "alert.resolved"
    assert cloud.alerting.evaluator.errors == 0
