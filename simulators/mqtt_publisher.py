"""Publishing over MQTT 3.1.1: one shared connection or one per device, one I/O thread.

paho-mqtt 2.x opens, authenticates, keeps alive, reconnects and closes each connection; the
publishes themselves go through :mod:`simulators.mqtt_socket` (decision 85): the caller's
thread puts each one in its connection's :class:`~simulators.mqtt_socket.Outbox` and wakes the
I/O thread at most once per turn; the I/O thread writes a turn's packets in one ``send`` and
takes the PUBACKs out of what it reads, in bulk. paho's own ``loop_start`` runs a thread per
client, which does not scale to a fleet of 1,000 connections on a small machine: every client
is driven by the single I/O thread through paho's external-loop API (``loop_read``/
``loop_write``/``loop_misc`` on a ``selectors`` selector, which is not limited to 1,024
descriptors), and every socket operation happens on it.

A PUBACK (QoS 1) or the write of the packet (QoS 0) marks the publish's :class:`Delivery`
acked. Lost connections are retried every second; after a reconnect the outbox sends every
unacknowledged QoS 1 publish again, in order.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import socket
import ssl
import threading
import time
from typing import Any

import paho.mqtt.client as mqtt

from simulators.broker import BrokerSettings
from simulators.errors import BrokerRefused, BrokerUnreachable
from simulators.mqtt_socket import Client, CoalescingSocket, Outbox
from simulators.publisher import Delivery

CONNECT_TIMEOUT_S = 10.0
#: Bytes of publishes the I/O thread moves from an outbox to the socket at a time.
WRITE_CHUNK = 256 * 1024


def _topic_bytes(topic: str) -> bytes:
    """``topic`` as the PUBLISH packet carries it; ValueError for a name one cannot publish to
    (as paho's own ``publish`` would raise)."""
    raw = topic.encode()
    if not raw or len(raw) > 65535 or "+" in topic or "#" in topic or "\0" in topic:
        raise ValueError(f"cannot publish to topic {topic!r}")
    return raw


class _Conn:
    """One paho client and its outbox (publishes to write, QoS 1 ones waiting for a PUBACK)."""

    def __init__(self, index: int, client: mqtt.Client) -> None:
        self.index = index
        self.client = client
        self.outbox = Outbox()
        self.connected = False
        self.refused: str | None = None
        self.sock: Any = None
        self.events = 0


class MqttPublisher:
    """The :class:`~simulators.publisher.Publisher` role over real MQTT connections."""

    def __init__(
        self,
        settings: BrokerSettings,
        connections: int = 1,
        client_id_prefix: str = "iotgw-sim",
    ) -> None:
        self.settings = settings
        self.connections = connections
        self.errors = 0
        self._prefix = client_id_prefix
        self._cv = threading.Condition()
        self._conns: list[_Conn] = []
        self._dirty: set[_Conn] = set()
        self._topics: dict[str, bytes] = {}
        self._sel: selectors.BaseSelector | None = None
        self._wake_r, self._wake_w = -1, -1
        self._thread: threading.Thread | None = None
        self._io_ident: int | None = None
        self._stopping = False

    # -- set-up ------------------------------------------------------------------------------

    def _make_client(self, index: int) -> _Conn:
        suffix = f"-{index}" if self.connections > 1 else ""
        client = Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"{self._prefix}{suffix}",
            clean_session=True,
        )
        conn = _Conn(index, client)
        client.user_data_set(conn)
        s = self.settings
        if s.username is not None:
            client.username_pw_set(s.username, s.password)
        if s.tls:
            client.tls_set(ca_certs=s.ca_file, cert_reqs=ssl.CERT_REQUIRED)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_socket_open = self._on_socket_open
        client.on_socket_close = self._on_socket_close
        client.on_socket_register_write = self._on_register_write
        client.on_socket_unregister_write = self._on_unregister_write
        return conn

    def start(self) -> None:
        """Connect every client, then wait for every CONNACK; raise a BrokerError if one fails."""
        self._sel = selectors.DefaultSelector()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._sel.register(self._wake_r, selectors.EVENT_READ, None)
        self._conns = [self._make_client(i) for i in range(self.connections)]
        try:
            if self.settings.tls:
                self._tls_preflight()
            for conn in self._conns:
                conn.client.connect(self.settings.host, self.settings.port, self.settings.keepalive)
        except (OSError, ssl.SSLError) as exc:
            self._close_all()
            raise BrokerUnreachable(
                f"cannot reach the MQTT broker at {self.settings.url}: {exc.strerror or exc}"
                " (is it running? check --broker)"
            ) from exc
        self._thread = threading.Thread(target=self._run, name="sim-mqtt-io", daemon=True)
        self._thread.start()
        self._await_connacks()

    def _tls_preflight(self) -> None:
        """One TLS handshake of our own, closed properly, before paho makes any.

        paho leaks its socket when a handshake fails (an untrusted certificate, say); checking
        first turns that case into a clean error with nothing left open.
        """
        s = self.settings
        context = ssl.create_default_context(cafile=s.ca_file)
        with (
            socket.create_connection((s.host, s.port), timeout=CONNECT_TIMEOUT_S) as raw,
            context.wrap_socket(raw, server_hostname=s.host),
        ):
            pass

    def _await_connacks(self) -> None:
        deadline = time.monotonic() + CONNECT_TIMEOUT_S
        with self._cv:
            self._cv.wait_for(
                lambda: all(c.connected or c.refused for c in self._conns),
                max(0.0, deadline - time.monotonic()),
            )
            refused = next((c.refused for c in self._conns if c.refused), None)
            missing = sum(1 for c in self._conns if not c.connected)
        if refused is not None:
            self.stop()
            raise BrokerRefused(f"the MQTT broker at {self.settings.url} refused us: {refused}")
        if missing:
            self.stop()
            raise BrokerUnreachable(
                f"the MQTT broker at {self.settings.url} did not answer {missing} connection(s) "
                f"within {CONNECT_TIMEOUT_S:.0f} s"
            )

    # -- paho callbacks (called on the I/O thread, or the caller's during connect) ------------

    def _on_connect(
        self, client: mqtt.Client, conn: _Conn, flags: Any, rc: Any, props: Any
    ) -> None:
        with self._cv:
            if rc.is_failure:
                conn.refused = str(rc)
            else:
                conn.connected = True
                conn.outbox.reconnected()
                self._dirty.add(conn)
            self._cv.notify_all()

    def _on_disconnect(
        self, client: mqtt.Client, conn: _Conn, flags: Any, rc: Any, props: Any
    ) -> None:
        with self._cv:
            if conn.connected and not self._stopping:
                self.errors += 1
            conn.connected = False
            for delivery in conn.outbox.disconnected():
                delivery.failed = True
                self.errors += 1
            self._cv.notify_all()

    def _on_socket_open(self, client: mqtt.Client, conn: _Conn, sock: Any) -> None:
        conn.sock = sock
        if self._sel is not None:
            self._sel.register(sock, selectors.EVENT_READ, conn)

    def _on_socket_close(self, client: mqtt.Client, conn: _Conn, sock: Any) -> None:
        conn.sock = None
        if self._sel is not None:
            with contextlib.suppress(KeyError, ValueError):
                self._sel.unregister(sock)

    def _on_register_write(self, client: mqtt.Client, conn: _Conn, sock: Any) -> None:
        # Called by paho after it queued a packet. One wake-up per turn of the I/O thread is
        # enough: a connection already marked is written in full when the I/O thread gets to
        # it (the packet is queued before this is called), so only the first mark wakes it.
        if threading.get_ident() != self._io_ident and conn not in self._dirty:
            self._dirty.add(conn)
            with contextlib.suppress(BlockingIOError):
                os.write(self._wake_w, b"w")

    def _on_unregister_write(self, client: mqtt.Client, conn: _Conn, sock: Any) -> None:
        return None

    # -- the I/O thread -----------------------------------------------------------------------

    def _run(self) -> None:
        self._io_ident = threading.get_ident()
        assert self._sel is not None
        last_misc = time.monotonic()
        while not self._stopping:
            for key, mask in self._sel.select(0.05):
                if key.data is None:
                    with contextlib.suppress(BlockingIOError):
                        os.read(self._wake_r, 65536)
                    continue
                conn: _Conn = key.data
                if mask & selectors.EVENT_READ:
                    self._read(conn)
                if mask & selectors.EVENT_WRITE:
                    self._dirty.add(conn)
            self._flush_dirty()
            now = time.monotonic()
            if now - last_misc >= 1.0:
                last_misc = now
                self._misc()

    def _read(self, conn: _Conn) -> None:
        client, sock = conn.client, conn.sock
        if isinstance(sock, CoalescingSocket):
            acks = sock.feed()
            if acks:
                self._acked(conn, acks)
            while sock is conn.sock and sock.pending():
                client.loop_read()  # CONNACK, PINGRESP, the end of the stream
        else:
            client.loop_read()
        if client.want_write() or len(conn.outbox):
            self._dirty.add(conn)

    def _acked(self, conn: _Conn, mids: list[int]) -> None:
        with self._cv:
            outbox = conn.outbox
            for mid in mids:
                delivery = outbox.acked(mid)
                if delivery is not None:
                    delivery.acked = True
            self._cv.notify_all()

    def _flush_dirty(self) -> None:
        while self._dirty:
            conn = self._dirty.pop()
            client = conn.client
            client.loop_write()
            sock = conn.sock
            if sock is None or self._sel is None:
                continue
            flushed = self._write_outbox(conn, sock) if isinstance(sock, CoalescingSocket) else True
            events = selectors.EVENT_READ
            if client.want_write() or not flushed:
                events |= selectors.EVENT_WRITE
            with contextlib.suppress(KeyError, ValueError):
                if self._sel.get_key(conn.sock).events != events:
                    self._sel.modify(conn.sock, events, conn)

    def _write_outbox(self, conn: _Conn, sock: CoalescingSocket) -> bool:
        """Write the outbox's packets after paho's own; True when the kernel took everything."""
        while True:
            flushed = sock.flush()
            if not flushed or not conn.connected:
                return flushed
            with self._cv:
                data, written = conn.outbox.take(WRITE_CHUNK)
                for delivery in written:  # QoS 0: written to the socket is all there is
                    delivery.acked = True
                if written:
                    self._cv.notify_all()
            if not data:
                return True
            sock.write(data)

    def _misc(self) -> None:
        for conn in self._conns:
            client = conn.client
            if conn.sock is not None:
                client.loop_misc()
                if client.want_write():
                    self._dirty.add(conn)
            elif not self._stopping:
                with contextlib.suppress(OSError, ssl.SSLError):
                    client.reconnect()
        self._flush_dirty()

    # -- the Publisher role --------------------------------------------------------------------

    def publish(self, conn: int, topic: str, payload: bytes, qos: int) -> Delivery:
        """Queue a publish on connection ``conn``; its delivery is acked by the I/O thread
        (QoS 1: on its PUBACK; QoS 0: once written to the socket). A QoS 0 publish while the
        connection is down fails at once; a QoS 1 one waits for the reconnect."""
        c = self._conns[conn]
        delivery = Delivery()
        topic_bytes = self._topics.get(topic)
        if topic_bytes is None:
            topic_bytes = self._topics[topic] = _topic_bytes(topic)
        wake = False
        with self._cv:
            if qos == 0 and not c.connected:
                delivery.failed = True
                self.errors += 1
                return delivery
            c.outbox.add(topic_bytes, payload, qos, delivery)
            if c not in self._dirty:
                self._dirty.add(c)
                wake = True
        if wake:
            with contextlib.suppress(BlockingIOError):
                os.write(self._wake_w, b"w")
        return delivery

    def wait(self, delivery: Delivery, timeout: float) -> bool:
        with self._cv:
            return self._cv.wait_for(lambda: delivery.done, timeout)

    def stop(self) -> None:
        """Send DISCONNECT on every connection, stop the I/O thread, close everything."""
        for conn in self._conns:
            if conn.connected:
                conn.client.disconnect()
        deadline = time.monotonic() + 2.0
        while self._thread is not None and time.monotonic() < deadline:
            if all(c.sock is None for c in self._conns):
                break
            time.sleep(0.01)
        self._stopping = True
        if self._thread is not None:
            self._thread.join(5.0)
            self._thread = None
        self._close_all()

    def _close_all(self) -> None:
        for conn in self._conns:
            if conn.sock is not None:
                with contextlib.suppress(OSError):
                    conn.sock.close()
                conn.sock = None
        if self._sel is not None:
            self._sel.close()
            self._sel = None
        for fd in (self._wake_r, self._wake_w):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._wake_r = self._wake_w = -1
