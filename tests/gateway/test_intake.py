"""The gateway in-process against a real Mosquitto and the recording cloud sink."""

from __future__ import annotations

import json
import math
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from firmware_protocol.codecs import get_codec
from firmware_protocol.model import Message, Reading
from gateway.service import GatewayService
from iotgw.cli import main as iotgw
from tests.gateway.helpers import (
    SENSORS_PER_MESSAGE,
    gateway_config,
    settings_from,
    wait_until,
    write_config,
)
from tests.support.cloud_sink import CloudSink
from tests.support.metrics import sample_totals
from tests.support.publisher import BASE_TS, SENSORS, Publisher, fleet, message, topic
from tests.support.servers import Mosquitto

pytestmark = pytest.mark.integration


def expected_keys(acked: set[tuple[str, int]]) -> set[tuple[str, int, str]]:
    return {(d, seq, s) for d, seq in acked for s in SENSORS}


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.mark.parametrize(("protocol", "worker"), [("3.1.1", ""), ("5", "decode"),
                                                  ("3.1.1", "score")])
def test_messages_flow_to_the_cloud_once(tmp_path: Path, mosquitto: Mosquitto, sink: CloudSink,
                                         protocol: str, worker: str) -> None:
    subscriptions = [{"topic": "sensors/{site}/{device}/{format}"},
                     {"topic": "legacy/{device}/up", "codec": "senml-json"}]
    cfg = gateway_config(tmp_path, mosquitto, sink.url, sink.token,
                         mqtt={"protocol": protocol, "decode_worker": worker == "decode",
                               "subscriptions": subscriptions},
                         detect={"enabled": worker == "score", "worker": worker == "score"})
    service = GatewayService(settings_from(cfg, tmp_path))
    service.start()
    pub = Publisher(mosquitto.host, mosquitto.port)
    try:
        assert wait_until(lambda: service.intake.connected, 15)
        pub.run(fleet(devices=5, per_device=40))
        senml = get_codec("senml-json")
        for seq in range(10):  # a second subscription, its own template and codec
            info = pub.publish_raw("legacy/dev-legacy/up", senml.encode(message("dev-legacy", seq)))
            info.wait_for_publish(5)
        assert pub.wait_acked()
        want = expected_keys(pub.acked)
        assert len(want) == 5 * 40 * SENSORS_PER_MESSAGE
        want |= {("dev-legacy", seq, s) for seq in range(10) for s in SENSORS}
        assert sink.wait_for(lambda: sink.keys() >= want, 30), len(want - sink.keys())
        assert not sink.duplicates()
        base = f"http://127.0.0.1:{cfg['health']['port']}"
        assert get(f"{base}/healthz")[0] == 200
        status, body = get(f"{base}/readyz")
        assert status == 200 and json.loads(body)["ready"] is True
        # The sink stores a batch before it answers; the rows go once the answer is in.
        assert wait_until(lambda: sample_totals(get(f"{base}/metrics")[1])[
            "iotgw_gateway_buffer_rows"] == 0, 10)
        metrics = sample_totals(get(f"{base}/metrics")[1], keep_labels=True)
        assert metrics['iotgw_gateway_messages_total{outcome="buffered"}'] == 210
        assert metrics["iotgw_gateway_uplink_breaker_state"] == 0
    finally:
        pub.close()
        service.stop()


def test_malformed_payloads_are_dead_lettered_and_good_ones_arrive(
        tmp_path: Path, mosquitto: Mosquitto, sink: CloudSink,
        capsys: pytest.CaptureFixture[str]) -> None:
    cfg = gateway_config(tmp_path, mosquitto, sink.url, sink.token)
    service = GatewayService(settings_from(cfg, tmp_path))
    service.start()
    pub = Publisher(mosquitto.host, mosquitto.port)
    bad = {
        "malformed": (topic("dev-bad", "json"), b"{not json"),
        "bad_field": (topic("dev-bad", "json"),
                      b'{"seq": 1, "ts": 1700000000000, "readings": []}'),
        "unknown_format": (topic("dev-bad", "xml"), b"<r/>"),
        "bad_checksum": (topic("dev-bad", "binary"), b"\x00" * 40),
    }
    try:
        assert wait_until(lambda: service.intake.connected, 15)
        for seq in range(30):
            pub.publish(message("dev-ok", seq))
            kind = list(bad)[seq % len(bad)]
            if seq % 3 == 0:
                pub.publish_raw(*bad[kind]).wait_for_publish(5)
        nan = json.dumps({"device": "dev-nan", "seq": 1, "ts": 1_700_000_000_000,
                          "readings": [{"sensor": "t", "value": math.nan}]})
        pub.publish_raw(topic("dev-nan"), nan.encode()).wait_for_publish(5)
        assert pub.wait_acked()
        want = expected_keys(pub.acked)
        assert sink.wait_for(lambda: sink.keys() >= want, 30)
        assert wait_until(lambda: sum(service.dead_letters.counts().values()) == 11, 15)
    finally:
        pub.close()
        service.stop()
    assert sink.keys() == want and not sink.duplicates()

    config = write_config(tmp_path, cfg)
    assert iotgw(["gateway", "dlq", "list", "--config", str(config), "--json"]) == 0
    out, err = capsys.readouterr()
    listed = [json.loads(line) for line in out.splitlines()]
    assert len(listed) == 11 and "11 dead letters" in err
    reasons = {e["reason"] for e in listed}
    assert {"malformed", "bad_field", "unknown_format"} <= reasons
    assert all(e["detail"] for e in listed)  # every entry says why
    first = listed[-1]["id"]
    assert iotgw(["gateway", "dlq", "show", str(first), "--config", str(config)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["topic"] and (shown["payload_text"] or shown["payload_hex"])
    # Replaying something still broken keeps it (with its current reason) and says so.
    assert iotgw(["gateway", "dlq", "replay", str(first), "--config", str(config)]) == 1
    assert "still failing 1" in capsys.readouterr().out
    assert iotgw(["gateway", "dlq", "purge", "--all", "--config", str(config)]) == 0
    assert "purged 11" in capsys.readouterr().out
    assert iotgw(["gateway", "dlq", "show", str(first), "--config", str(config)]) == 1


def test_username_and_password_and_a_clear_refusal(tmp_path: Path, sink: CloudSink) -> None:
    passwords = tmp_path / "passwd"
    passwords.write_text("")
    subprocess.run(["mosquitto_passwd", "-b", str(passwords), "gw", "s3cret"], check=True,
                   capture_output=True)
    broker = Mosquitto(tmp_path / "mq", extra_config=(
        f"allow_anonymous false\npassword_file {passwords}\n"))
    broker.start()
    try:
        wrong = gateway_config(tmp_path / "a", broker, sink.url, sink.token,
                               mqtt={"username": "gw", "password": "nope"})
        service = GatewayService(settings_from(wrong, tmp_path))
        service.start()
        base = f"http://127.0.0.1:{wrong['health']['port']}"
        time.sleep(1.0)  # a few refused attempts
        status, body = get(f"{base}/readyz")
        assert status == 503 and json.loads(body)["checks"]["broker_connected"] is False
        assert not service.intake.connected
        service.stop()

        right = gateway_config(tmp_path / "b", broker, sink.url, sink.token,
                               mqtt={"username": "gw", "password": "s3cret"})
        service = GatewayService(settings_from(right, tmp_path))
        service.start()
        try:
            assert wait_until(lambda: service.intake.connected, 15)
            pub = Publisher(broker.host, broker.port, client_id="fleet", auth=("gw", "s3cret"))
            pub.run(fleet(devices=2, per_device=10))
            assert pub.wait_acked()
            pub.close()
            assert sink.wait_for(lambda: sink.keys() >= expected_keys(pub.acked), 30)
        finally:
            service.stop()
    finally:
        broker.kill()


def test_anomalies_take_the_priority_lane_and_are_published_locally(
        tmp_path: Path, mosquitto: Mosquitto, sink: CloudSink) -> None:
    cfg = gateway_config(tmp_path, mosquitto, sink.url, sink.token,
                         detect={"enabled": True, "limits": {"temperature": [0, 50]}})
    service = GatewayService(settings_from(cfg, tmp_path))
    heard: list[tuple[str, dict[str, object]]] = []
    listener = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="listener")
    listener.on_message = lambda _c, _u, m: heard.append((m.topic, json.loads(m.payload)))
    listener.connect(mosquitto.host, mosquitto.port)
    listener.subscribe("gateway/#", qos=1)
    listener.loop_start()
    service.start()
    pub = Publisher(mosquitto.host, mosquitto.port)
    try:
        assert wait_until(lambda: service.intake.connected, 15)
        pub.run(fleet(devices=2, per_device=5))
        hot = Message("dev-000", 99, BASE_TS + 99_000, (Reading("temperature", 99.0),))
        pub.publish(hot)
        assert pub.wait_acked()
        assert sink.wait_for(lambda: len(sink.anomalies) >= 1, 30)
        assert wait_until(lambda: len(heard) >= 1, 10)
    finally:
        pub.close()
        service.stop()
        listener.loop_stop()
        listener.disconnect()
    event = sink.anomalies[0]
    assert (event["device"], event["sensor"], event["ts"], event["value"]) == (
        "dev-000", "temperature", BASE_TS + 99_000, 99.0)
    topic, local = heard[0]
    assert topic == "gateway/gw-test/anomalies/dev-000/temperature" and local == event
    assert ("dev-000", 99, "temperature") in sink.stored  # the reading itself is kept too
