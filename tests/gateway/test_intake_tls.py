"""The gateway's intake over ``mqtts://`` with a CA file and a password: the read-ahead socket
wraps the TLS socket, and messages arrive and are acknowledged."""

from __future__ import annotations

import ssl
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from firmware_protocol.codecs import get_codec
from gateway.service import GatewayService
from tests.gateway.helpers import gateway_config, settings_from, wait_until
from tests.simulators.test_sim_tls import tls_broker  # noqa: F401  (a fixture)
from tests.support.cloud_sink import CloudSink
from tests.support.publisher import message, topic
from tests.support.servers import Mosquitto

pytestmark = pytest.mark.integration


def test_intake_over_tls(tls_broker: tuple[Mosquitto, Path], sink: CloudSink,  # noqa: F811
                         tmp_path: Path) -> None:
    broker, ca = tls_broker
    cfg = gateway_config(tmp_path, broker, sink.url, sink.token,
                         mqtt={"url": f"mqtts://127.0.0.1:{broker.port}", "username": "sim",
                               "password": "s3cret", "tls": {"ca_file": str(ca)}})
    service = GatewayService(settings_from(cfg, tmp_path))
    service.start()
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="tls-fleet")
    pub.tls_set(ca_certs=str(ca), cert_reqs=ssl.CERT_REQUIRED)
    pub.username_pw_set("sim", "s3cret")
    try:
        assert wait_until(lambda: service.intake.connected, 15)
        pub.connect("127.0.0.1", broker.port)
        pub.loop_start()
        codec = get_codec("json")
        infos = [pub.publish(topic("tls-1"), codec.encode(message("tls-1", seq)), qos=1)
                 for seq in range(300)]
        for info in infos:
            info.wait_for_publish(10)
        want = {("tls-1", seq, s) for seq in range(300) for s in ("temperature", "humidity")}
        assert sink.wait_for(lambda: sink.keys() >= want, 30), len(want - sink.keys())
        assert not sink.duplicates()
        # Every message was acknowledged over TLS: a new start of the same session gets none.
        service.stop()
        service = GatewayService(settings_from(cfg, tmp_path))
        service.start()
        assert wait_until(lambda: service.intake.connected, 15)
        assert not wait_until(
            lambda: service.metrics.value("iotgw_gateway_messages_received_total") > 0, 2)
    finally:
        pub.loop_stop()
        pub.disconnect()
        service.stop()
