"""Fewer system calls per message on the MQTT thread: read ahead, and PUBACK a group at once.

paho-mqtt reads a packet with at least three ``recv`` calls (command byte, remaining length,
body) after a ``select``, and writes each PUBACK with two ``send`` calls (its wake-up socket
pair and the packet). Each system call also hands the interpreter lock to whichever thread
wants it, and the processing stage always does: the intake thread then waits up to the switch
interval to get it back, once per call. So the intake thread:

- gives paho a socket that reads 64 KiB at a time and serves paho's small reads from memory,
  reporting what it holds through ``pending()`` (the hook paho already uses for TLS), and lets
  the intake call ``loop_read()`` directly while bytes are pending (no ``select``);
- writes the PUBACKs of a committed group as one ``send`` of the pre-encoded packets (a QoS 1
  PUBACK is 4 bytes in MQTT 3.1.1 and 5 alike: success needs no reason code), but only when paho
  has nothing of its own half-written (``want_write()`` false), so packets never interleave.
  Bytes the kernel does not take at once are kept and sent, in order, before anything else.

paho keeps no state for an incoming QoS 1 message once ``on_message`` returned
(``manual_ack=True``), so acknowledging it with our own bytes is invisible to it.

>>> puback(1) + puback(258)
b'@\\x02\\x00\\x01@\\x02\\x01\\x02'
"""

from __future__ import annotations

from typing import Any

import paho.mqtt.client as mqtt

from common.sockbuf import send_buffered

READ_CHUNK = 65536
#: A PINGREQ packet (MQTT 3.1.1 and 5 alike).
PINGREQ = b"\xc0\x00"


def puback(mid: int) -> bytes:
    """The PUBACK packet for packet id ``mid`` (success)."""
    return b"\x40\x02" + mid.to_bytes(2, "big")


class ReadAheadSocket:
    """Wraps the client's socket: buffered reads, and our own queued writes go first."""

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._rbuf = b""
        self._rpos = 0
        self._wbuf = bytearray()

    def __getattr__(self, name: str) -> Any:  # fileno, setblocking, close, ...
        return getattr(self._sock, name)

    def pending(self) -> int:
        inner = self._sock.pending() if hasattr(self._sock, "pending") else 0
        return len(self._rbuf) - self._rpos + inner

    def recv(self, bufsize: int) -> bytes:
        if self._rpos >= len(self._rbuf):
            data = self._sock.recv(READ_CHUNK)  # BlockingIOError and EOF pass through
            if len(data) <= bufsize:
                self._rbuf, self._rpos = b"", 0
                return bytes(data)
            self._rbuf, self._rpos = data, 0
        start = self._rpos
        self._rpos = min(len(self._rbuf), start + bufsize)
        return self._rbuf[start:self._rpos]

    def send(self, data: Any) -> int:
        if self._wbuf and not self.flush():
            raise BlockingIOError()
        return int(self._sock.send(data))

    def queue(self, data: bytes) -> None:
        """Send ``data`` after anything queued before it; keeps what the kernel refuses."""
        self._wbuf += data
        self.flush()

    def flush(self) -> bool:
        """Send queued bytes; True when none are left. A dead connection drops them (the
        broker redelivers what was not acknowledged) and paho notices it on its next call."""
        return send_buffered(self._sock, self._wbuf)


class Client(mqtt.Client):
    """A paho client whose socket is a :class:`ReadAheadSocket`."""

    def _create_socket(self) -> Any:
        return ReadAheadSocket(super()._create_socket())

    @property
    def read_ahead(self) -> ReadAheadSocket | None:
        sock = self.socket()
        return sock if isinstance(sock, ReadAheadSocket) else None
