"""A minimal QoS 1 device fleet for gateway tests: publishes encoded messages with paho and
records which ones the broker acknowledged (PUBACK), so tests can check every acknowledged
reading arrived.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from firmware_protocol.codecs import get_codec
from firmware_protocol.model import Message, Reading

BASE_TS = 1_700_000_000_000
SENSORS = ("temperature", "humidity")


def message(device: str, seq: int, sensors: Iterable[str] = SENSORS) -> Message:
    return Message(device=device, seq=seq, ts_ms=BASE_TS + seq * 1000,
                   readings=tuple(Reading(s, 20.0 + seq % 7 + i) for i, s in enumerate(sensors)))


def topic(device: str, codec: str = "json", site: str = "site-1") -> str:
    return f"sensors/{site}/{device}/{codec}"


class Publisher:
    """Publishes at QoS 1 and keeps the (device, seq) of every message the broker PUBACKed."""

    def __init__(self, host: str, port: int, client_id: str = "test-fleet",
                 auth: tuple[str, str] | None = None) -> None:
        self.acked: set[tuple[str, int]] = set()
        self._pending: dict[int, tuple[str, int]] = {}
        self._early: set[int] = set()
        self._lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        self.client.on_publish = self._on_publish
        self.client.max_inflight_messages_set(100)
        if auth is not None:
            self.client.username_pw_set(*auth)
        self.client.connect(host, port)
        self.client.loop_start()

    def _on_publish(self, _c: object, _u: object, mid: int, _rc: object, _p: object) -> None:
        with self._lock:
            key = self._pending.pop(mid, None)
            if key is not None:
                self.acked.add(key)
            else:  # the PUBACK beat publish() returning
                self._early.add(mid)

    def publish_raw(self, topic_name: str, payload: bytes) -> mqtt.MQTTMessageInfo:
        return self.client.publish(topic_name, payload, qos=1)

    def publish(self, msg: Message, codec: str = "json") -> None:
        payload = get_codec(codec).encode(msg)
        # Never hold our lock across paho's: its network thread calls _on_publish holding it.
        info = self.client.publish(topic(msg.device, codec), payload, qos=1)
        with self._lock:
            if info.mid in self._early:
                self._early.discard(info.mid)
                self.acked.add((msg.device, msg.seq))
            else:
                self._pending[info.mid] = (msg.device, msg.seq)

    def run(self, messages: Iterable[Message], rate: float | None = None) -> None:
        """Publish all, waiting now and then so no more than a few thousand are unacked."""
        start = time.monotonic()
        for i, msg in enumerate(messages):
            self.publish(msg)
            if rate:
                delay = start + i / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            while len(self._pending) > 2000:
                time.sleep(0.005)

    def wait_acked(self, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        while self._pending and time.monotonic() < deadline:
            time.sleep(0.02)
        return not self._pending

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def fleet(devices: int, per_device: int) -> Iterator[Message]:
    """Messages interleaved across devices: device-000 seq 0, device-001 seq 0, ..."""
    for seq in range(per_device):
        for d in range(devices):
            yield message(f"dev-{d:03d}", seq)
