"""The intake's DEBUG trace: every message it appends is named (connection, packet id, DUP,
acknowledged or not, topic, payload), and the fault suites' loss report can read it back."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from common.logs import TextFormatter
from gateway.service import GatewayService
from tests.gateway.helpers import gateway_config, settings_from, wait_until
from tests.support.cloud_sink import CloudSink
from tests.support.delivery_trace import (
    delivered_to_gateway,
    explain_losses,
    gateway_deliveries,
)
from tests.support.publisher import Publisher, fleet
from tests.support.servers import Mosquitto

pytestmark = pytest.mark.integration


def test_every_appended_message_is_traced_at_debug(
        tmp_path: Path, mosquitto: Mosquitto, sink: CloudSink,
        caplog: pytest.LogCaptureFixture) -> None:
    cfg = gateway_config(tmp_path, mosquitto, sink.url, sink.token)
    service = GatewayService(settings_from(cfg, tmp_path))
    caplog.set_level(logging.DEBUG, logger="gateway.intake")
    service.start()
    pub = Publisher(mosquitto.host, mosquitto.port)
    try:
        assert wait_until(lambda: service.intake.connected, 15)
        pub.run(fleet(devices=3, per_device=10))
        assert pub.wait_acked()
        assert wait_until(lambda: service.processor.cursor >= 30, 15)
    finally:
        pub.close()
        service.stop()
    log = tmp_path / "gateway.log"
    fmt = TextFormatter()
    log.write_text("".join(fmt.format(r) + "\n" for r in caplog.records
                           if r.name == "gateway.intake"))

    traced = gateway_deliveries(log)
    assert set(traced) == pub.acked and len(traced) == 30
    for deliveries in traced.values():
        (only,) = deliveries
        assert only.conn == 1 and only.acked and not only.dup and only.mid > 0
    device, seq = sorted(pub.acked)[0]
    report = explain_losses([(device, seq, "t"), ("dev-never", 3, "t")], log)
    assert f"{device} seq {seq}: DELIVERED to the gateway" in report
    assert "dev-never seq 3: NEVER delivered to the gateway" in report
    assert delivered_to_gateway([(device, seq, "t"), ("dev-never", 3, "t")], log) == [
        (device, seq)]
