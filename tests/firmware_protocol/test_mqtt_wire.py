"""The wire contract over a real broker: devices publish on template-built topics in every
format; a subscriber on the template's filter routes each topic to its codec and decodes."""

from __future__ import annotations

import threading

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from firmware_protocol.codecs import CODEC_NAMES, get_codec
from firmware_protocol.errors import DecodeError
from firmware_protocol.model import Message, Reading
from firmware_protocol.topics import Subscription
from tests.support.servers import Mosquitto

pytestmark = pytest.mark.integration


def _client(broker: Mosquitto, client_id: str) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                         protocol=mqtt.MQTTv311)
    client.connect(broker.host, broker.port, keepalive=30)
    client.loop_start()
    return client


def test_every_format_routes_and_decodes_over_mqtt(mosquitto: Mosquitto) -> None:
    sub = Subscription()
    decoded: dict[str, Message] = {}
    rejected: dict[str, str] = {}
    done, subscribed = threading.Event(), threading.Event()
    expected_count = len(CODEC_NAMES) + 2

    def on_message(_c: mqtt.Client, _u: object, m: mqtt.MQTTMessage) -> None:
        try:
            route = sub.route(m.topic, received_ms=1_700_000_001_000)
            assert route is not None
            decoded[m.topic] = route.codec.decode(m.payload, route.context)
        except DecodeError as exc:
            rejected[m.topic] = exc.reason
        if len(decoded) + len(rejected) == expected_count:
            done.set()

    listener = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="fw-sub",
                           protocol=mqtt.MQTTv311)
    listener.on_message = on_message
    listener.on_subscribe = lambda *_a: subscribed.set()
    listener.on_connect = lambda c, *_a: c.subscribe(sub.filter, qos=1)
    listener.connect(mosquitto.host, mosquitto.port, keepalive=30)
    listener.loop_start()
    pub = _client(mosquitto, "fw-pub")
    try:
        assert subscribed.wait(5)
        sent: dict[str, Message] = {}
        for i, fmt in enumerate(CODEC_NAMES):
            msg = Message(f"dev-{i}", i, 1_700_000_000_000,
                          (Reading("temperature", 20.5 + i, unit="Cel"), Reading("ok", True)))
            topic = sub.template.format(site="plant-a", device=msg.device, format=fmt)
            sent[topic] = msg
            pub.publish(topic, get_codec(fmt).encode(msg), qos=1).wait_for_publish(5)
        pub.publish("sensors/plant-a/dev-9/xml", b"<r/>", qos=1).wait_for_publish(5)
        pub.publish("sensors/plant-a/dev-9/binary", b'{"x": 1}', qos=1).wait_for_publish(5)
        assert done.wait(10), (decoded, rejected)
    finally:
        pub.loop_stop()
        pub.disconnect()
        listener.loop_stop()
        listener.disconnect()
    assert {t: m.device for t, m in decoded.items()} == {t: m.device for t, m in sent.items()}
    for topic, msg in sent.items():
        assert decoded[topic].readings == msg.readings
        assert decoded[topic].site == "plant-a"  # filled in from the topic
    assert rejected == {"sensors/plant-a/dev-9/xml": "unknown_format",
                        "sensors/plant-a/dev-9/binary": "malformed"}
