"""MQTT intake: a message is PUBACKed only after it is appended to the durable intake log.

One thread owns the paho client (no other thread ever touches it). It connects with a
persistent session (fixed client id, ``clean_session`` off, or MQTT 5 ``clean_start`` off with
a session expiry), then loops:

1. let paho read one packet; a PUBLISH is appended to the pending group (``manual_ack=True``:
   paho does not acknowledge it);
2. when the socket has nothing more to read right now, or the group reached
   ``commit_max_messages``, or its oldest message waited ``commit_max_delay_ms`` (when set),
   append the whole group — topic, payload, arrival time — to the raw intake log
   (:mod:`gateway.rawlog`) in **one** commit, and only after the commit send the PUBACKs, in the
   order the messages arrived. That is all this thread does per message: decoding, validation,
   de-duplication, scoring and buffering run in the processing stage
   (:mod:`gateway.processor`), which consumes the log.

Group commits form by themselves: while one commits, the next group queues up in the socket.
The broker's in-flight window (``max_inflight_messages``; the MQTT 5 Receive Maximum) bounds
how many unacknowledged messages the gateway can hold, so it bounds a group too.

On a lost connection the pending group is still appended (it is durable either way) but not
acknowledged: the broker redelivers it on the new connection and the processing stage's
de-duplication window recognises it. While :class:`RoomCheck` says no (the buffer is full under
the ``backpressure`` policy, or the log holds ``intake.max_backlog`` unprocessed entries) the
thread keeps the connection alive (keepalives) but appends and acknowledges nothing, and once
it holds a group (``commit_max_messages``) it reads nothing more, so the broker keeps the
messages (not this process's memory, whatever the broker's in-flight window). A failed
connect or a lost connection moves on to the next node of ``mqtt.urls``
(:class:`~gateway.brokers.BrokerList`), with the same client id and session; reconnects back
off exponentially with jitter. Local notifications (anomaly events) are queued by any thread
and published by this one. At DEBUG the intake logs one ``delivered`` line per appended
message (connection, packet id, DUP flag, acknowledged or not, topic, payload in hex): what
the broker handed over, for telling a message the broker never delivered from one lost
further on.
"""

from __future__ import annotations

import contextlib
import logging
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from common.backoff import Backoff
from gateway.brokers import BrokerList
from gateway.errors import StoreError
from gateway.metrics import GatewayMetrics
from gateway.mqtt_socket import PINGREQ, Client, ReadAheadSocket, puback
from gateway.rawlog import Entry, RawLog
from gateway.session_filters import SessionFilters
from gateway.settings import MqttSection

log = logging.getLogger("gateway.intake")


class _Held(NamedTuple):
    """A received message waiting for its commit: PUBACK it with ``mid`` afterwards."""

    mid: int
    qos: int
    dup: bool
    entry: Entry


class RoomCheck(Protocol):
    def has_room(self) -> bool: ...


class Intake:
    """The MQTT side of the gateway; ``start()`` connects, ``stop()`` commits and disconnects."""

    def __init__(
        self,
        settings: MqttSection,
        client_id: str,
        filters: list[str],
        raw_log: RawLog,
        room: RoomCheck,
        metrics: GatewayMetrics,
        on_logged: Callable[[], None] = lambda: None,
        filters_file: Path | None = None,
    ) -> None:
        self._s = settings
        self._client_id = client_id
        self._filters = filters
        self._session = SessionFilters(filters_file, client_id, filters)
        self._log = raw_log
        self._room = room
        self._metrics = metrics
        self._on_logged = on_logged
        self._pending: list[_Held] = []
        self._outbox: deque[tuple[str, bytes]] = deque()
        #: monotonic time the intake last committed a group while the socket held more: it
        #: was behind the broker then (the processing stage yields while that is recent)
        self.saturated_at = -1.0
        self._first_ms = 0.0
        self._no_room = False  # the last room check said no
        self._pinged = 0.0  # monotonic time of our last PINGREQ while reading was paused
        self._received = 0
        self._connections = 0  # successful CONNACKs so far (names a connection in the trace)
        self._connected = False
        self._subscribed = False
        self._lost = False
        self._stop = threading.Event()
        self._backoff = Backoff(settings.reconnect_min_s, settings.reconnect_max_s)
        self._brokers = BrokerList(settings.broker_urls, settings.use_tls)
        self._client: mqtt.Client | None = None
        self._thread: threading.Thread | None = None

    # -- life cycle --------------------------------------------------------------------------

    def start(self) -> None:
        self._client = self._make_client()
        self._thread = threading.Thread(target=self._run, name="intake", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Commit and acknowledge what has arrived, then disconnect cleanly."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def connected(self) -> bool:
        """Connected and subscribed (the broker acknowledged every subscription)."""
        return self._connected and self._subscribed

    @property
    def backlog(self) -> int:
        """Messages received and not yet committed."""
        return len(self._pending)

    @property
    def busy(self) -> bool:
        """Whether the intake was behind the broker in the last 200 ms: it committed a group
        (full, or past its delay) while more was waiting to be read. Merely receiving at a
        steady rate it keeps up with is not busy: the processing stage must then keep up too,
        or its backlog, and every reading's latency, grows (decision 91)."""
        return time.monotonic() - self.saturated_at < 0.2

    def publish(self, topic: str, payload: bytes) -> None:
        """Queue a local notification (QoS 0); the intake thread publishes it. Thread-safe."""
        if len(self._outbox) >= 10_000:
            self._metrics.local_publish_failures.inc()
            return
        self._outbox.append((topic, payload))

    def _publish_queued(self, client: mqtt.Client) -> None:
        while self._outbox:
            topic, payload = self._outbox.popleft()
            if not self._connected:
                self._metrics.local_publish_failures.inc()
                continue
            client.publish(topic, payload, qos=0)

    # -- connection --------------------------------------------------------------------------

    def _make_client(self) -> mqtt.Client:
        v5 = self._s.protocol == "5"
        client = Client(
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
        client.on_unsubscribe = self._on_unsubscribe
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
                failed = self._brokers.current.url
                log.warning("cannot connect to %s: %s; trying %s in %.1f s", failed, exc,
                            self._brokers.advance().url, delay)
                self._metrics.broker_connect_failures.inc()
                self._stop.wait(delay)
                continue
            try:
                self._serve(client)
            except Exception:  # never let the MQTT thread die: reconnect, the broker redelivers
                log.exception("intake loop failed; reconnecting")
                self._pending = []
                with contextlib.suppress(Exception):
                    client.disconnect()
            self._connected = self._subscribed = False
            if not self._stop.is_set():
                delay = self._backoff.next()
                log.warning("lost the broker; reconnecting to %s in %.1f s",
                            self._brokers.advance().url, delay)
                self._stop.wait(delay)

    def _connect(self, client: mqtt.Client) -> None:
        node = self._brokers.current
        if self._s.protocol == "5":
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = self._s.session_expiry_s
            props.ReceiveMaximum = self._s.receive_maximum
            client.connect(node.host, node.port, self._s.keepalive_s,
                           clean_start=False, properties=props)
        else:
            client.connect(node.host, node.port, self._s.keepalive_s)

    def _serve(self, client: mqtt.Client) -> None:
        """Read, group-append and acknowledge until the connection ends or stop() is called."""
        while not self._lost:
            if self._stop.is_set():
                self._commit(ack=self._connected)
                client.disconnect()
                client.loop(0.1)  # flush the PUBACKs and the DISCONNECT
                return
            before = self._received
            rc = self._read(client)
            if rc != mqtt.MQTT_ERR_SUCCESS:
                self._lost = True
                break
            drained = self._received == before
            if self._pending and self._due(drained):
                if not drained:
                    self.saturated_at = time.monotonic()
                self._commit(ack=True)
            elif not self._pending:
                self._idle()
            if self._outbox:
                self._publish_queued(client)
        self._commit(ack=False)  # durable now; the broker redelivers, dedup recognises them

    def _read(self, client: mqtt.Client) -> mqtt.MQTTErrorCode:
        """Read: from the read-ahead buffer while it holds bytes, else one paho loop turn;
        nothing while there is no room and a full group waits (:meth:`_paused`)."""
        sock = client.read_ahead if isinstance(client, Client) else None
        if sock is not None and self._paused(client, sock):
            return mqtt.MQTT_ERR_SUCCESS
        if sock is None or not sock.pending():
            if sock is not None and not sock.flush():
                return client.loop(0.001)  # the kernel's send buffer is full: let it drain
            return client.loop(0.0 if self._pending else 0.1)
        limit = self._s.commit_max_messages
        for _ in range(256):
            rc = client.loop_read()
            if rc != mqtt.MQTT_ERR_SUCCESS or not sock.pending() or len(self._pending) >= limit:
                return rc
        return mqtt.MQTT_ERR_SUCCESS

    def _paused(self, client: mqtt.Client, sock: ReadAheadSocket) -> bool:
        """While there is no room, hold at most one group in memory and read no further.

        A broker may hand over far more than the in-flight window it is configured with (a
        benchmark measured 214,856 unacknowledged messages from a Mosquitto 2.0 set to 4,000);
        read while the log or the buffer is full, every one would wait in this process's
        memory. Unread, they wait at the broker. paho's keepalive needs reads, so the
        connection is kept alive with our own PINGREQs meanwhile (never inside a packet paho
        is still writing); paho reads their PINGRESPs once reading resumes.
        """
        if not (self._no_room and len(self._pending) >= self._s.commit_max_messages):
            return False
        if client.want_write():
            client.loop_write()  # finish paho's own packet first
        now = time.monotonic()
        if now - self._pinged >= self._s.keepalive_s / 2 and not client.want_write():
            sock.queue(PINGREQ)
            self._pinged = now
        return True

    def _idle(self) -> None:
        try:
            self._log.trim()
        except StoreError as exc:
            log.warning("%s", exc)

    def _due(self, drained: bool) -> bool:
        self._no_room = not self._room.has_room()
        if self._no_room:
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
        self._connections += 1
        self._connected = True
        self._subscribed = False
        log.info("connected to %s as %s (session present: %s)", self._brokers.current.url,
                 self._client_id,
                 flags.session_present)
        stale = self._session.stale(flags.session_present)
        if stale:
            log.warning("unsubscribing %s: the session kept them from an earlier configuration",
                        ", ".join(stale))
            client.unsubscribe(stale)
        client.subscribe([(f, 1) for f in self._filters])

    def _on_subscribe(self, _c: mqtt.Client, _u: Any, _mid: int, reasons: Any, _p: Any) -> None:
        refused = [r for r in reasons if r.is_failure]
        if refused:
            log.error("the broker refused a subscription (%s): check its ACLs for %s",
                      refused[0], ", ".join(self._filters))
            return
        self._subscribed = True

    def _on_unsubscribe(self, _c: mqtt.Client, _u: Any, _mid: int, _reasons: Any,
                        _p: Any) -> None:
        self._session.unsubscribed()

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        self._connected = False
        self._lost = True
        if not self._stop.is_set():
            log.warning("disconnected from the broker: %s", reason)

    def _on_message(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        if not self._pending:
            self._first_ms = time.monotonic() * 1000
        self._received += 1
        entry = (message.topic, bytes(message.payload), time.time_ns() // 10**6)
        self._pending.append(_Held(message.mid, message.qos, bool(message.dup), entry))

    # -- group commit ------------------------------------------------------------------------

    def _commit(self, ack: bool) -> None:
        """Append the pending group to the log in one commit; then PUBACK it, in arrival order."""
        batch, self._pending = self._pending, []
        if not batch:
            return
        self._metrics.messages_received.inc(len(batch))
        started = time.perf_counter()
        try:
            self._log.append([h.entry for h in batch])
        except StoreError as exc:
            log.error("could not commit %d messages (%s); not acknowledging them, "
                      "reconnecting so the broker delivers them again", len(batch), exc)
            self._metrics.commit_failures.inc()
            self._lost = True
            if self._client is not None:
                self._client.disconnect()
            return
        self._on_logged()
        self._metrics.commit_duration.observe(time.perf_counter() - started)
        client = self._client
        acking = ack and client is not None and self._connected
        if log.isEnabledFor(logging.DEBUG):
            self._trace(batch, acking)
        if not acking or client is None:
            self._metrics.acks_skipped.inc(len(batch))
            return
        sock = client.read_ahead if isinstance(client, Client) else None
        if sock is not None and not client.want_write():
            sock.queue(b"".join([puback(h.mid) for h in batch if h.qos]))
        else:
            for h in batch:
                if h.qos:
                    client.ack(h.mid, h.qos)
        client.loop_misc()  # keepalive: our PUBACKs bypass paho's bookkeeping

    def _trace(self, batch: list[_Held], acking: bool) -> None:
        """At DEBUG, one line per message appended to the log: which connection delivered it
        (the count of CONNACKs so far), its packet id, DUP flag, whether it is acknowledged
        now, its topic and payload (hex), so a reading missing downstream can be told apart
        from one the broker never delivered."""
        conn = self._connections
        for h in batch:
            topic, payload, received_ms = h.entry
            log.debug("delivered conn=%d mid=%d qos=%d dup=%d acked=%d at=%d topic=%s "
                      "payload=%s", conn, h.mid, h.qos, h.dup, acking, received_ms, topic,
                      payload.hex())
