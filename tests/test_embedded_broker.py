"""The demo's in-process broker carries QoS 1 traffic with manual acknowledgement."""

from __future__ import annotations

import threading

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from iotgw.embedded_broker import EmbeddedBroker


def test_embedded_broker_qos1_round_trip_with_manual_ack() -> None:
    broker = EmbeddedBroker()
    broker.start()
    received: list[bytes] = []
    all_in = threading.Event()
    subscribed = threading.Event()

    def on_message(client: mqtt.Client, _userdata: object, msg: mqtt.MQTTMessage) -> None:
        received.append(msg.payload)
        client.ack(msg.mid, msg.qos)
        if len(received) == 200:
            all_in.set()

    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="eb-sub", clean_session=False,
                      manual_ack=True)
    sub.on_message = on_message
    sub.on_subscribe = lambda *_a: subscribed.set()
    sub.on_connect = lambda c, *_a: c.subscribe("sensors/#", qos=1)
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="eb-pub")
    try:
        sub.connect("127.0.0.1", broker.port)
        sub.loop_start()
        assert subscribed.wait(5)
        pub.connect("127.0.0.1", broker.port)
        pub.loop_start()
        for i in range(200):
            pub.publish("sensors/s/d/json", str(i).encode(), qos=1).wait_for_publish(5)
        assert all_in.wait(10)
        assert [int(p) for p in received] == list(range(200))
    finally:
        for c in (pub, sub):
            c.disconnect()
            c.loop_stop()
        broker.stop()
