"""MQTT intake: a message is PUBACKed only after its outcome is committed to disk.

One thread owns the paho client (no other thread ever touches it). It connects with a
persistent session (fixed client id, ``clean_session`` off, or MQTT 5 ``clean_start`` off with
a session expiry), then loops:

1. let paho read one packet; a PUBLISH is appended to the pending group (``manual_ack=True``:
   paho does not acknowledge it);
2. when the socket has nothing more to read right now, or the group reached
   ``commit_max_messages``, or its oldest message waited ``commit_max_delay_ms`` (when set),
   run the pipeline over the whole group in **one** SQLite transaction, and only after the
   commit send the PUBACKs, in the order the messages arrived.

Group commits form by themselves: while one commits, the next group queues up in the socket.
The broker's in-flight window (``max_inflight_messages``; the MQTT 5 Receive Maximum) bounds
how many unacknowledged messages the gateway can hold, so it bounds a group too.

On a lost connection the pending group is still committed (it is durable either way) but not
acknowledged: the broker redelivers it on the new connection and the de-duplication window
recognises it. Under the ``backpressure`` overflow policy the thread keeps the connection alive
(keepalives, reading up to the in-flight window) but commits and acknowledges nothing while the
buffer is full, so the broker keeps the messages. Reconnects back off exponentially with jitter.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from typing import Any, NamedTuple, Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from common.backoff import Backoff
from gateway.decode_worker import DecodeWorker
from gateway.decoding import Result
from gateway.errors import GatewayError, StoreError
from gateway.metrics import GatewayMetrics
from gateway.pipeline import Incoming, Pipeline
from gateway.settings import MqttSection

log = logging.getLogger("gateway.intake")


class _Held(NamedTuple):
    """A received message waiting for its commit: PUBACK it with ``mid`` afterwards."""

    mid: int
    qos: int
    item: Incoming


class RoomCheck(Protocol):
    def has_room(self) -> bool: ...


class Intake:
    """The MQTT side of the gateway; ``start()`` connects, ``stop()`` commits and disconnects."""

    def __init__(
        self,
        settings: MqttSection,
        client_id: str,
        filters: list[str],
        pipeline: Pipeline,
        room: RoomCheck,
        metrics: GatewayMetrics,
        worker: DecodeWorker | None = None,
    ) -> None:
        self._s = settings
        self._client_id = client_id
        self._filters = filters
        self._pipeline = pipeline
        self._room = room
        self._metrics = metrics
        self._pending: list[_Held] = []
        self._worker = worker
        self._in_worker: list[_Held] = []
        self._first_ms = 0.0
        self._received = 0
        self._connected = False
        self._subscribed = False
        self._lost = False
        self._stop = threading.Event()
        self._backoff = Backoff(settings.reconnect_min_s, settings.reconnect_max_s)
        self._client: mqtt.Client | None = None
        self._thread: threading.Thread | None = None

    # -- life cycle --------------------------------------------------------------------------

    def start(self) -> None:
        if self._worker is not None:
            self._worker.start()
        self._client = self._make_client()
        self._thread = threading.Thread(target=self._run, name="intake", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Commit and acknowledge what has arrived, then disconnect cleanly."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._worker is not None:
            self._worker.stop()

    @property
    def connected(self) -> bool:
        """Connected and subscribed (the broker acknowledged every subscription)."""
        return self._connected and self._subscribed

    @property
    def backlog(self) -> int:
        """Messages received and not yet committed."""
        return len(self._pending) + len(self._in_worker)

    def publish(self, topic: str, payload: bytes) -> None:
        """Publish a local notification (QoS 0); call from the pipeline's commit hooks only."""
        client = self._client
        if client is None or not self._connected:
            self._metrics.local_publish_failures.inc()
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
        client.on_subscribe = self._on_subscribe
        return client

    def _run(self) -> None:
        client = self._client
        assert client is not None
        while not self._stop.is_set():
            self._lost = False
            try:
                self._connect(client)
            except (OSError, ValueError) as exc:
                delay = self._backoff.next()
                log.warning("cannot connect to %s: %s; retrying in %.1f s", self._s.url, exc, delay)
                self._metrics.broker_connect_failures.inc()
                self._stop.wait(delay)
                continue
            self._serve(client)
            self._connected = self._subscribed = False
            if not self._stop.is_set():
                delay = self._backoff.next()
                log.warning("lost the broker; reconnecting in %.1f s", delay)
                self._stop.wait(delay)

    def _connect(self, client: mqtt.Client) -> None:
        if self._s.protocol == "5":
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = self._s.session_expiry_s
            props.ReceiveMaximum = self._s.receive_maximum
            client.connect(self._s.host, self._s.port, self._s.keepalive_s,
                           clean_start=False, properties=props)
        else:
            client.connect(self._s.host, self._s.port, self._s.keepalive_s)

    def _serve(self, client: mqtt.Client) -> None:
        """Read, group-commit and acknowledge until the connection ends or stop() is called."""
        worker = self._worker
        while not self._lost:
            if self._stop.is_set():
                self._flush(ack=self._connected)
                client.disconnect()
                client.loop(0.1)  # flush the PUBACKs and the DISCONNECT
                return
            before = self._received
            busy = worker is not None and worker.busy
            rc = client.loop(0.0 if self._pending or busy else 0.1)
            if rc != mqtt.MQTT_ERR_SUCCESS:
                self._lost = True
                break
            drained = self._received == before
            if worker is not None and worker.busy and worker.ready(0.002 if drained else 0.0):
                self._complete(ack=True)
            if self._pending and not (worker is not None and worker.busy) and self._due(drained):
                self._dispatch()
        self._flush(ack=False)  # durable now; the broker redelivers, dedup recognises them

    def _dispatch(self) -> None:
        """Hand the pending group to the worker, or commit it right here without one."""
        if self._worker is None:
            self._commit(ack=True)
            return
        group, self._pending = self._pending, []
        try:
            self._worker.submit([(h.item.topic, h.item.payload, h.item.received_ms)
                                 for h in group])
        except GatewayError as exc:
            self._lose_worker(exc)
            self._pending = group + self._pending
            self._commit(ack=True)
            return
        self._in_worker = group

    def _complete(self, ack: bool) -> None:
        """Collect the worker's results and commit that group."""
        assert self._worker is not None
        group, self._in_worker = self._in_worker, []
        try:
            results = self._worker.collect()
        except GatewayError as exc:
            self._lose_worker(exc)
            results = None
        self._commit_group(group, results, ack)

    def _flush(self, ack: bool) -> None:
        if self._worker is not None and self._worker.busy:
            self._complete(ack)
        self._commit(ack)

    def _lose_worker(self, exc: Exception) -> None:
        log.error("%s; decoding inline from now on", exc)
        self._metrics.decode_worker_failures.inc()
        if self._worker is not None:
            self._worker.stop()
        self._worker = None

    def _due(self, drained: bool) -> bool:
        if not self._room.has_room():
            self._metrics.backpressure_waits.inc()
            if not drained:
                return False
            time.sleep(0.01)
            return False
        if drained or len(self._pending) >= self._s.commit_max_messages:
            return True
        delay = self._s.commit_max_delay_ms
        return delay > 0 and time.monotonic() * 1000 - self._first_ms >= delay

    def _on_connect(self, client: mqtt.Client, _u: Any, flags: Any, reason: Any,
                    _p: Any) -> None:
        if reason.is_failure:
            log.error("the broker refused the connection: %s", reason)
            self._lost = True
            return
        self._backoff.reset()
        self._connected = True
        self._subscribed = False
        log.info("connected to %s as %s (session present: %s)", self._s.url, self._client_id,
                 flags.session_present)
        client.subscribe([(f, 1) for f in self._filters])

    def _on_subscribe(self, _c: mqtt.Client, _u: Any, _mid: int, reasons: Any, _p: Any) -> None:
        refused = [r for r in reasons if r.is_failure]
        if refused:
            log.error("the broker refused a subscription (%s): check its ACLs for %s",
                      refused[0], ", ".join(self._filters))
            return
        self._subscribed = True

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        self._connected = False
        self._lost = True
        if not self._stop.is_set():
            log.warning("disconnected from the broker: %s", reason)

    def _on_message(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        if not self._pending:
            self._first_ms = time.monotonic() * 1000
        self._received += 1
        item = Incoming(message.topic, bytes(message.payload), time.time_ns() // 10**6)
        self._pending.append(_Held(message.mid, message.qos, item))

    # -- group commit ------------------------------------------------------------------------

    def _commit(self, ack: bool) -> None:
        """Commit the pending group (decoded inline) and acknowledge it."""
        batch, self._pending = self._pending, []
        self._commit_group(batch, None, ack)

    def _commit_group(self, batch: list[_Held], results: list[Result] | None,
                      ack: bool) -> None:
        """Commit ``batch`` in one transaction; then PUBACK it, in arrival order."""
        if not batch:
            return
        self._metrics.messages_received.inc(len(batch))
        started = time.perf_counter()
        try:
            self._pipeline.handle([h.item for h in batch], results)
        except StoreError as exc:
            log.error("could not commit %d messages (%s); not acknowledging them, "
                      "reconnecting so the broker delivers them again", len(batch), exc)
            self._metrics.commit_failures.inc()
            self._lost = True
            if self._client is not None:
                self._client.disconnect()
            return
        self._metrics.commit_duration.observe(time.perf_counter() - started)
        client = self._client
        if not ack or client is None or not self._connected:
            self._metrics.acks_skipped.inc(len(batch))
            return
        for h in batch:
            if h.qos:
                client.ack(h.mid, h.qos)
