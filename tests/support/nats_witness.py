"""A core NATS subscriber that records every MQTT publish a NATS node receives.

NATS turns an MQTT PUBLISH into a NATS message on the topic's subject (``a/b`` → ``a.b``,
QoS in an ``Nmqtt-Pub`` header) and hands it to core NATS subscribers before it stores a QoS 1
message in JetStream for the MQTT sessions. A subscriber on the node a simulator publishes to
therefore sees what that node received, independently of JetStream and of the gateway: when a
reading is missing downstream, "the node received the publish" (seen here) tells a message
lost between the node and the gateway's session apart from one that never reached NATS.

It speaks the NATS client protocol (text lines over TCP: ``CONNECT``, ``SUB``, ``PING``/
``PONG``, ``MSG``/``HMSG``) itself, reconnects to the same node every 0.1 s while it is down,
and is best effort: while it is reconnecting after a node restart it misses messages, so
"not seen" proves nothing.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from pathlib import Path
from typing import NamedTuple

from iotgw.processes import LOOPBACK


class Seen(NamedTuple):
    """One message the witness received: wall-clock time, subject, payload (headers cut)."""

    at: float
    subject: str
    payload: bytes


class NatsWitness:
    """Subscribes to ``subject`` on one node's client port; ``seen`` grows as messages come."""

    def __init__(self, port: int, subject: str = "sensors.>", name: str = "witness") -> None:
        self.port = port
        self.subject = subject
        self.name = name
        self.seen: list[Seen] = []
        self.connects = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> NatsWitness:
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def dump(self, path: Path) -> Path:
        """Write what was seen, one ``time subject payload-hex`` line per message."""
        with path.open("w", encoding="utf-8") as f:
            for seen in list(self.seen):
                f.write(f"{seen.at:.3f} {seen.subject} {seen.payload.hex()}\n")
        return path

    def _run(self) -> None:
        while not self._stop.is_set():
            with (contextlib.suppress(OSError, ValueError),
                  socket.create_connection((LOOPBACK, self.port), timeout=2) as sock):
                sock.settimeout(0.5)
                self._serve(sock)
            self._stop.wait(0.1)

    def _serve(self, sock: socket.socket) -> None:
        sock.sendall(b'CONNECT {"verbose":false,"pedantic":false,"headers":true,'
                     b'"name":"' + self.name.encode() + b'"}\r\nSUB '
                     + self.subject.encode() + b" 1\r\nPING\r\n")
        self.connects += 1
        buf = b""
        while not self._stop.is_set():
            try:
                data = sock.recv(65536)
            except TimeoutError:
                continue
            if not data:
                return
            buf = self._parse(sock, buf + data)

    def _parse(self, sock: socket.socket, buf: bytes) -> bytes:
        """Handle every complete protocol message in ``buf``; return the incomplete rest."""
        while True:
            end = buf.find(b"\r\n")
            if end < 0:
                return buf
            line = buf[:end].split()
            op = line[0].upper() if line else b""
            if op in (b"MSG", b"HMSG"):
                total = int(line[-1])
                start = end + 2
                if len(buf) < start + total + 2:
                    return buf  # the payload is not all here yet
                body = buf[start:start + total]
                headers = int(line[-2]) if op == b"HMSG" else 0
                self.seen.append(Seen(time.time(), line[1].decode(), body[headers:]))
                buf = buf[start + total + 2:]
                continue
            if op == b"PING":
                sock.sendall(b"PONG\r\n")
            buf = buf[end + 2:]


def nats_request(port: int, subject: str, payload: bytes = b"", timeout: float = 5.0) -> bytes:
    """One core NATS request (e.g. a JetStream API call) to the node on ``port``; the reply's
    payload, or ``b""`` when none came within ``timeout``."""
    inbox = f"_INBOX.iotgw.{time.time_ns()}"
    with socket.create_connection((LOOPBACK, port), timeout=timeout) as sock:
        sock.sendall(b'CONNECT {"verbose":false,"pedantic":false}\r\nSUB ' + inbox.encode()
                     + b" 1\r\nPUB " + subject.encode() + b" " + inbox.encode() + b" "
                     + str(len(payload)).encode() + b"\r\n" + payload + b"\r\n")
        buf = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                data = sock.recv(65536)
            except TimeoutError:
                break
            if not data:
                break
            buf += data
            at = buf.find(b"MSG " + inbox.encode())
            if at >= 0:
                head_end = buf.find(b"\r\n", at)
                if head_end < 0:
                    continue
                size = int(buf[at:head_end].split()[-1])
                if len(buf) >= head_end + 2 + size:
                    return buf[head_end + 2:head_end + 2 + size]
    return b""
