"""The publisher's data path: PUBLISH and PUBACK handled by us, in bulk; paho keeps the rest.

paho-mqtt costs about 45-60 us of CPU per QoS 1 publish here, most of it per-message machinery
the simulator does not need: a message object, an info object with its own condition variable,
three locks, and on every PUBACK a scan of the in-flight messages for the next one to send
(``_update_inflight`` walks up to ``max_inflight`` entries per acknowledgement); it also reads
each packet with three ``recv`` calls and writes each with its own ``send``. paho still opens,
authenticates (TLS, password), keeps alive, reconnects and closes each connection; the
simulator's own publishes bypass it:

- :class:`Outbox` (one per connection) gives each QoS 1 publish a packet id, keeps it until its
  PUBACK, and after a reconnect queues every unacknowledged one again, in order, with the DUP
  flag (MQTT 3.1.1, section 4.4);
- :class:`CoalescingSocket` wraps paho's socket: the I/O thread reads up to 64 KiB at once and
  takes the PUBACKs out of the stream (:meth:`CoalescingSocket.feed`); the other packets
  (CONNACK, PINGRESP) are served to paho's own reads. Writes are buffered: paho's packets and
  ours go out in the order they were written, in one ``send`` per turn of the I/O thread
  (:meth:`CoalescingSocket.flush`). Past ``max_buffer`` bytes paho's ``send`` is refused
  (``BlockingIOError``: paho keeps its packet queued as for a full kernel buffer), and the
  outbox waits for the kernel.

What is buffered when a connection drops is lost with it, as bytes in the kernel's buffer would
be: unacknowledged QoS 1 publishes are sent again after the reconnect, and a QoS 0 publish
counts as delivered once written to the socket (the manifest says so).

>>> publish_packet(b"a/b", b"hi", 1, 7).hex(" ")
'32 09 00 03 61 2f 62 00 07 68 69'
"""

from __future__ import annotations

import ssl
from collections import deque
from typing import Any

import paho.mqtt.client as mqtt

from simulators.publisher import Delivery

READ_CHUNK = 65536
#: Bytes the write buffer holds before paho's ``send`` is refused and the outbox waits.
MAX_BUFFER = 1 << 20
#: A packet id is 16 bits, 0 excluded.
MAX_MID = 65535

_PUBACK = 0x40
_WOULD_BLOCK = (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError)


def _remaining_length(n: int) -> bytes:
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _header(buf: bytearray, pos: int) -> tuple[int, int] | None:
    """(offset of the body, its length) of the packet at ``pos``; None while incomplete."""
    length, mult, i, end = 0, 1, pos + 1, len(buf)
    while i < end and i - pos <= 4:
        byte = buf[i]
        i += 1
        length += (byte & 0x7F) * mult
        if not byte & 0x80:
            return i, length
        mult *= 128
    return None


def publish_packet(topic: bytes, payload: bytes, qos: int, mid: int) -> bytes:
    """An MQTT 3.1.1 PUBLISH packet (DUP and RETAIN off; ``mid`` unused at QoS 0)."""
    head = len(topic).to_bytes(2, "big") + topic
    if qos:
        head += mid.to_bytes(2, "big")
    return (bytes([0x30 | qos << 1]) + _remaining_length(len(head) + len(payload))
            + head + payload)


def _with_dup(packet: bytes) -> bytes:
    return bytes([packet[0] | 0x08]) + packet[1:]


class Outbox:
    """One connection's publishes: waiting to be written, and QoS 1 ones waiting for a PUBACK.

    Not thread-safe: the publisher calls every method under its own lock.
    """

    def __init__(self) -> None:
        self._next = 0
        #: (packet, the delivery writing it completes (QoS 0), its packet id (QoS 1) or 0).
        self._queue: deque[tuple[bytes, Delivery | None, int]] = deque()
        #: packet id -> (packet, delivery) of QoS 1 publishes, in publish order.
        self._unacked: dict[int, tuple[bytes, Delivery]] = {}

    def __len__(self) -> int:
        """Publishes waiting to be written."""
        return len(self._queue)

    def add(self, topic: bytes, payload: bytes, qos: int, delivery: Delivery) -> None:
        if not qos:
            self._queue.append((publish_packet(topic, payload, 0, 0), delivery, 0))
            return
        mid = self._mid()
        packet = publish_packet(topic, payload, qos, mid)
        self._unacked[mid] = (packet, delivery)
        self._queue.append((packet, None, mid))

    def _mid(self) -> int:
        for _ in range(MAX_MID):
            self._next = self._next % MAX_MID + 1
            if self._next not in self._unacked:
                return self._next
        raise RuntimeError("65,535 publishes waiting for their PUBACK on one connection")

    def take(self, limit: int) -> tuple[bytes, list[Delivery]]:
        """Packets to write now (about ``limit`` bytes at most) and the QoS 0 deliveries that
        writing them completes."""
        parts: list[bytes] = []
        written: list[Delivery] = []
        size = 0
        queue = self._queue
        while queue and size < limit:
            packet, delivery, _mid = queue.popleft()
            parts.append(packet)
            size += len(packet)
            if delivery is not None:
                written.append(delivery)
        return b"".join(parts), written

    def acked(self, mid: int) -> Delivery | None:
        entry = self._unacked.pop(mid, None)
        return None if entry is None else entry[1]

    def disconnected(self) -> list[Delivery]:
        """The connection dropped: the QoS 0 publishes not yet written fail (returned); QoS 1
        ones wait for :meth:`reconnected`."""
        failed = [d for _p, d, _m in self._queue if d is not None]
        if failed:
            self._queue = deque(e for e in self._queue if e[1] is None)
        return failed

    def reconnected(self) -> None:
        """Queue every unacknowledged QoS 1 publish again, in publish order, with the DUP flag
        on those written before."""
        unwritten = {mid for _p, _d, mid in self._queue}
        self._queue = deque((p if mid in unwritten else _with_dup(p), None, mid)
                            for mid, (p, _d) in self._unacked.items())


class CoalescingSocket:
    """Wraps paho's socket: PUBACKs taken out of the read stream, writes buffered."""

    def __init__(self, sock: Any, max_buffer: int = MAX_BUFFER) -> None:
        self._sock = sock
        self._in = bytearray()  # bytes read, not yet framed into packets
        self._paho = bytearray()  # whole packets for paho's reads
        self._eof: BaseException | bool = False
        self._wbuf = bytearray()
        self.max_buffer = max_buffer

    def __getattr__(self, name: str) -> Any:  # fileno, setblocking, do_handshake, ...
        return getattr(self._sock, name)

    # -- reading ---------------------------------------------------------------------------------

    def feed(self) -> list[int]:
        """Read what the kernel (and TLS) holds; return the packet ids of the PUBACKs in it.
        Other whole packets are kept for paho (:meth:`pending`); end of stream or an error is
        kept for paho's next read."""
        while not self._eof:
            try:
                data = self._sock.recv(READ_CHUNK)
            except _WOULD_BLOCK:
                break
            except OSError as exc:
                self._eof = exc
                break
            if not data:
                self._eof = True
                break
            self._in += data
            if not (hasattr(self._sock, "pending") and self._sock.pending()):
                break
        return self._frame()

    def _frame(self) -> list[int]:
        acks: list[int] = []
        buf, pos = self._in, 0
        while (header := _header(buf, pos)) is not None:
            body, length = header
            if body + length > len(buf):
                break
            if buf[pos] == _PUBACK and length == 2:
                acks.append(buf[body] << 8 | buf[body + 1])
            else:
                self._paho += buf[pos:body + length]
            pos = body + length
        del buf[:pos]
        return acks

    def pending(self) -> int:
        """Bytes of whole packets waiting for paho's reads (or 1 at the end of the stream, so
        paho reads and notices it)."""
        return len(self._paho) or (1 if self._eof else 0)

    def recv(self, bufsize: int) -> bytes:
        if self._paho:
            out = bytes(self._paho[:bufsize])
            del self._paho[:bufsize]
            return out
        if isinstance(self._eof, BaseException):
            raise self._eof
        if self._eof:
            return b""
        raise BlockingIOError()

    # -- writing ---------------------------------------------------------------------------------

    def send(self, data: Any) -> int:
        if len(self._wbuf) >= self.max_buffer and not self.flush():
            raise BlockingIOError()
        self._wbuf += data
        return len(data)

    def write(self, data: bytes) -> None:
        """Queue our own bytes after everything written before."""
        self._wbuf += data

    @property
    def buffered(self) -> int:
        """Bytes written and not yet taken by the kernel."""
        return len(self._wbuf)

    def flush(self) -> bool:
        """Send what is buffered; True when nothing is left. On a dead connection the bytes
        are dropped (see the module docstring) and paho notices on its next read or write."""
        while self._wbuf:
            try:
                sent = self._sock.send(self._wbuf)
            except _WOULD_BLOCK:
                return False
            except OSError:
                self._wbuf.clear()
                return True
            del self._wbuf[:sent]
        return True

    def close(self) -> None:
        """Send what paho wrote last (its DISCONNECT, say) if the kernel takes it, then close."""
        self.flush()
        self._sock.close()


class Client(mqtt.Client):
    """A paho client whose socket is a :class:`CoalescingSocket`."""

    def _create_socket(self) -> Any:
        return CoalescingSocket(super()._create_socket())
