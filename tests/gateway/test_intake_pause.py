"""While there is no room, the intake holds one group in memory and leaves the rest at the
broker, even a broker whose in-flight window is unlimited, and keeps the connection alive."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from gateway.service import GatewayService
from tests.gateway.helpers import gateway_config, settings_from, wait_until
from tests.support.cloud_sink import CloudSink
from tests.support.publisher import SENSORS, Publisher, fleet
from tests.support.servers import Mosquitto

pytestmark = pytest.mark.integration

GROUP = 50  # mqtt.commit_max_messages


def test_a_full_buffer_leaves_the_messages_at_the_broker_not_in_memory(
        tmp_path: Path, sink: CloudSink) -> None:
    # No in-flight limit: the broker sends a subscriber everything it has, unacknowledged.
    broker = Mosquitto(tmp_path / "mq", extra_config="max_inflight_messages 0")
    broker.start()
    sink.down()
    cfg = gateway_config(tmp_path, broker, sink.url, sink.token,
                         mqtt={"commit_max_messages": GROUP, "keepalive_s": 5},
                         buffer={"max_bytes": 60_000, "overflow": "backpressure"})
    service = GatewayService(settings_from(cfg, tmp_path))
    service.start()
    pub = Publisher(broker.host, broker.port)
    try:
        assert wait_until(lambda: service.intake.connected, 15)
        pub.run(fleet(devices=5, per_device=400))  # 2,000 messages: more than the buffer holds
        assert pub.wait_acked()
        assert wait_until(lambda: service.metrics.value(
            "iotgw_gateway_backpressure_waits_total") > 0, 30)
        assert wait_until(lambda: service.intake.backlog >= GROUP, 30)
        connections = service.intake._connections
        # Held past two keepalive periods: at most one group read, the connection kept.
        held = []
        deadline = time.monotonic() + 12
        while time.monotonic() < deadline:
            held.append(service.intake.backlog)
            time.sleep(0.1)
        assert max(held) <= GROUP
        assert service.intake.connected and service.intake._connections == connections
        buffered = service.metrics.value("iotgw_gateway_messages_total", outcome="buffered")
        assert buffered < 2000  # the rest waits at the broker
        sink.up()
        want = {(d, seq, s) for d, seq in pub.acked for s in SENSORS}
        assert sink.wait_for(lambda: sink.keys() >= want, 90), len(want - sink.keys())
        assert not sink.duplicates()
        assert service.intake._connections == connections  # resumed on the same connection
    finally:
        pub.close()
        service.stop()
        broker.kill()
