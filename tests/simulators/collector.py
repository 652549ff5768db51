"""A real MQTT subscriber that records every message it receives, in order (test helper)."""

from __future__ import annotations

import threading
import time
import uuid

import paho.mqtt.client as mqtt


class Collector:
    """Subscribes to ``topic`` at QoS 1 on a broker; ``messages`` holds (topic, payload)."""

    def __init__(self, host: str, port: int, topic: str = "sensors/#") -> None:
        self.messages: list[tuple[str, bytes]] = []
        self._cv = threading.Condition()
        self._subscribed = threading.Event()
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                   client_id=f"collector-{uuid.uuid4().hex[:8]}")
        self._client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
        self._client.on_subscribe = lambda c, u, mid, rcs, p: self._subscribed.set()
        self._client.on_message = self._on_message
        self._host, self._port = host, port

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        with self._cv:
            self.messages.append((msg.topic, bytes(msg.payload)))
            self._cv.notify_all()

    def start(self) -> None:
        self._client.connect(self._host, self._port)
        self._client.loop_start()
        if not self._subscribed.wait(10):
            raise RuntimeError("subscription not confirmed")

    def wait_for(self, count: int, timeout: float = 30.0) -> list[tuple[str, bytes]]:
        """Wait until ``count`` messages arrived, then a moment more to catch extras."""
        with self._cv:
            self._cv.wait_for(lambda: len(self.messages) >= count, timeout)
        time.sleep(0.3)
        with self._cv:
            return list(self.messages)

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
