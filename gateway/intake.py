"""MQTT intake: a message is PUBACKed only after its outcome is committed to disk.

Three threads cooperate:

- paho's network thread receives PUBLISH packets and queues them (``manual_ack=True``: paho
  does not acknowledge them);
- the **committer** takes whatever has arrived (up to ``commit_max_messages``, lingering up to
  ``commit_max_delay_ms``), runs the pipeline over it in **one** SQLite transaction, and only
  after the commit sends the PUBACKs, in the order the messages arrived;
- the **supervisor** connects with a persistent session (fixed client id, ``clean_session``
  off, or MQTT 5 ``clean_start`` off with a session expiry) and reconnects with capped
  exponential backoff and jitter.

Acknowledgements are tied to the connection a message arrived on: after a reconnect the broker
redelivers everything unacknowledged, so a stale ack is skipped rather than sent on a new
connection (where the packet id may already name another message). Under the ``backpressure``
overflow policy the committer stops while the buffer is full: nothing is acknowledged, so the
broker keeps the messages.
"""

from __future__ import annotations

import logging
import queue
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gateway.backoff import Backoff
from gateway.errors import StoreError
from gateway.metrics import Metrics
from gateway.pipeline import Incoming, Pipeline
from gateway.settings import MqttSection

log = logging.getLogger("gateway.intake")


class RoomCheck(Protocol):
    def has_room(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class _Received:
    generation: int
    mid: int
    qos: int
    item: Incoming


class Intake:
    """The MQTT side of the gateway; ``start()`` connects, ``stop()`` commits and disconnects."""

    def __init__(
        self,
        settings: MqttSection,
        client_id: str,
        filters: list[str],
        pipeline: Pipeline,
        room: RoomCheck,
        metrics: Metrics,
    ) -> None:
        self._s = settings
        self._client_id = client_id
        self._filters = filters
        self._pipeline = pipeline
        self._room = room
        self._metrics = metrics
        self._queue: queue.Queue[_Received] = queue.Queue()
        self._ack_lock = threading.Lock()
        self._generation = 0
        self._connected = False
        self._stopping = threading.Event()
        self._closed = threading.Event()
        self._lost = threading.Event()
        self._backoff = Backoff(settings.reconnect_min_s, settings.reconnect_max_s)
        self._client: mqtt.Client | None = None
        self._threads: list[threading.Thread] = []

    # -- life cycle --------------------------------------------------------------------------

    def start(self) -> None:
        self._client = self._make_client()
        self._threads = [
            threading.Thread(target=self._commit_loop, name="intake-commit", daemon=True),
            threading.Thread(target=self._supervise, name="intake-connect", daemon=True),
        ]
        for t in self._threads:
            t.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Commit and acknowledge what has arrived, then disconnect cleanly."""
        self._stopping.set()
        self._threads[0].join(timeout)
        self._closed.set()
        self._lost.set()
        self._threads[1].join(timeout)

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def backlog(self) -> int:
        """Messages received and not yet committed."""
        return self._queue.qsize()

    def publish(self, topic: str, payload: bytes) -> None:
        """Publish a local notification (QoS 0; dropped, and counted, when disconnected)."""
        client = self._client
        if client is None or not self._connected:
            self._metrics.inc("iotgw_local_publish_failed_total",
                              help="local notifications not published (broker disconnected)")
            return
        client.publish(topic, payload, qos=0)

    # -- connection --------------------------------------------------------------------------

    def _make_client(self) -> mqtt.Client:
        v5 = self._s.protocol == "5"
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self._client_id,
            clean_session=None if v5 else False,
            protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
            manual_ack=True,
            reconnect_on_failure=False,
        )
        if self._s.username:
            password = self._s.password.get_secret_value() if self._s.password else None
            client.username_pw_set(self._s.username, password)
        if self._s.use_tls:
            tls = self._s.tls
            client.tls_set(
                ca_certs=str(tls.ca_file) if tls.ca_file else None,
                certfile=str(tls.cert_file) if tls.cert_file else None,
                keyfile=str(tls.key_file) if tls.key_file else None,
                cert_reqs=ssl.CERT_NONE if tls.insecure else ssl.CERT_REQUIRED,
            )
            client.tls_insecure_set(tls.insecure)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    def _supervise(self) -> None:
        client = self._client
        assert client is not None
        while not self._closed.is_set():
            with self._ack_lock:
                self._generation += 1
            self._lost.clear()
            try:
                self._connect(client)
            except (OSError, ValueError) as exc:
                delay = self._backoff.next()
                log.warning("cannot connect to %s: %s; retrying in %.1f s", self._s.url, exc, delay)
                self._metrics.inc("iotgw_broker_connect_failures_total",
                                  help="failed broker connection attempts")
                self._closed.wait(delay)
                continue
            client.loop_start()
            self._lost.wait()
            if self._closed.is_set():
                client.disconnect()
            client.loop_stop()
            with self._ack_lock:
                self._connected = False
            if not self._closed.is_set():
                delay = self._backoff.next()
                log.warning("lost the broker; reconnecting in %.1f s", delay)
                self._closed.wait(delay)

    def _connect(self, client: mqtt.Client) -> None:
        if self._s.protocol == "5":
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = self._s.session_expiry_s
            props.ReceiveMaximum = self._s.receive_maximum
            client.connect(self._s.host, self._s.port, self._s.keepalive_s,
                           clean_start=False, properties=props)
        else:
            client.connect(self._s.host, self._s.port, self._s.keepalive_s)

    def _on_connect(self, client: mqtt.Client, _u: Any, flags: Any, reason: Any,
                    _p: Any) -> None:
        if reason.is_failure:
            log.error("the broker refused the connection: %s", reason)
            self._lost.set()
            return
        self._backoff.reset()
        with self._ack_lock:
            self._connected = True
        log.info("connected to %s as %s (session present: %s)", self._s.url, self._client_id,
                 flags.session_present)
        client.subscribe([(f, 1) for f in self._filters])

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        with self._ack_lock:
            self._connected = False
            self._generation += 1
        if not self._closed.is_set():
            log.warning("disconnected from the broker: %s", reason)
        self._lost.set()

    def _on_message(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        if self._stopping.is_set():
            return  # not acknowledged: the broker delivers it again next time
        item = Incoming(message.topic, bytes(message.payload), time.time_ns() // 10**6)
        self._queue.put(_Received(self._generation, message.mid, message.qos, item))

    # -- group commit ------------------------------------------------------------------------

    def _collect(self) -> list[_Received]:
        try:
            batch = [self._queue.get(timeout=0.1)]
        except queue.Empty:
            return []
        limit = self._s.commit_max_messages
        deadline = time.monotonic() + self._s.commit_max_delay_ms / 1000.0
        while len(batch) < limit:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    batch.append(self._queue.get(timeout=remaining))
                except queue.Empty:
                    break
        return batch

    def _commit_loop(self) -> None:
        while not (self._stopping.is_set() and self._queue.empty()):
            batch = self._collect()
            if not batch:
                continue
            while not self._room.has_room() and not self._closed.is_set():
                self._metrics.inc("iotgw_backpressure_waits_total",
                                  help="commit pauses because the buffer is full (backpressure)")
                time.sleep(0.05)
            self._metrics.inc("iotgw_messages_received_total", len(batch),
                              help="MQTT messages received")
            started = time.perf_counter()
            try:
                self._pipeline.handle([r.item for r in batch])
            except StoreError as exc:
                log.error("could not commit %d messages (%s); not acknowledging them, "
                          "reconnecting so the broker delivers them again", len(batch), exc)
                self._metrics.inc("iotgw_commit_failures_total", help="failed group commits")
                self._force_reconnect()
                continue
            self._metrics.observe("iotgw_commit_seconds", time.perf_counter() - started,
                                  help="group commit latency")
            self._ack(batch)

    def _ack(self, batch: list[_Received]) -> None:
        client = self._client
        assert client is not None
        skipped = 0
        with self._ack_lock:
            for r in batch:
                if r.qos == 0:
                    continue
                if r.generation == self._generation and self._connected:
                    client.ack(r.mid, r.qos)
                else:
                    skipped += 1
        if skipped:
            self._metrics.inc("iotgw_acks_skipped_total", skipped,
                              help="acks not sent because the connection changed (redelivered)")

    def _force_reconnect(self) -> None:
        with self._ack_lock:
            self._generation += 1
        if self._client is not None:
            self._client.disconnect()
        time.sleep(1.0)
