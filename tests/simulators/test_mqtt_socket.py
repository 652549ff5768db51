"""The publisher's own PUBLISH/PUBACK path: packet bytes, the outbox across a reconnect, and the
socket wrapper over a real socket pair (the broker-facing behaviour is in test_sim_mqtt.py and
test_sim_resilience.py, against a real Mosquitto)."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

import pytest

from simulators.mqtt_socket import CoalescingSocket, Outbox, publish_packet
from simulators.publisher import Delivery


@pytest.fixture
def pair() -> Iterator[tuple[CoalescingSocket, socket.socket]]:
    ours, broker = socket.socketpair()
    ours.setblocking(False)
    try:
        yield CoalescingSocket(ours), broker
    finally:
        ours.close()
        broker.close()


def test_publish_packet_layout() -> None:
    assert publish_packet(b"a/b", b"xy", 1, 258) == b"\x32\x09\x00\x03a/b\x01\x02xy"
    assert publish_packet(b"a", b"", 0, 5) == b"\x30\x03\x00\x01a"  # no packet id at QoS 0
    big = publish_packet(b"t", bytes(200), 1, 1)
    assert big[:3] == b"\x32\xcd\x01"  # 205 = 77 + 128: two bytes of remaining length


def test_outbox_resends_unacknowledged_in_order_with_dup_on_written_ones() -> None:
    box = Outbox()
    d = [Delivery() for _ in range(4)]
    box.add(b"t", b"1", 1, d[0])
    box.add(b"t", b"2", 1, d[1])
    written, completed = box.take(1)  # the first packet only
    assert written == publish_packet(b"t", b"1", 1, 1) and completed == []
    box.add(b"t", b"3", 0, d[2])
    box.add(b"t", b"4", 1, d[3])
    assert box.acked(99) is None
    assert box.disconnected() == [d[2]]  # QoS 0 not written: failed
    box.reconnected()
    again, _ = box.take(1 << 20)
    dup1 = b"\x3a" + publish_packet(b"t", b"1", 1, 1)[1:]
    assert again == dup1 + publish_packet(b"t", b"2", 1, 2) + publish_packet(b"t", b"4", 1, 3)
    assert box.acked(2) is d[1] and box.acked(2) is None
    box.reconnected()
    assert box.take(1 << 20)[0] == dup1 + b"\x3a" + publish_packet(b"t", b"4", 1, 3)[1:]


def test_outbox_qos0_completes_when_written_and_ids_skip_those_in_use() -> None:
    box = Outbox()
    first = Delivery()
    box.add(b"t", b"a", 0, first)
    assert box.take(1 << 20)[1] == [first]
    held = Delivery()
    box.add(b"t", b"b", 1, held)  # id 1 stays unacknowledged
    assert box.take(1 << 20)[0] == publish_packet(b"t", b"b", 1, 1)
    for mid in range(2, 65536):
        box.add(b"t", b"c", 1, Delivery())
        assert box.take(1 << 20)[0] == publish_packet(b"t", b"c", 1, mid)
        assert box.acked(mid) is not None
    box.add(b"t", b"d", 1, Delivery())  # wraps past 65,535 and skips id 1, still in use
    assert box.take(1 << 20)[0] == publish_packet(b"t", b"d", 1, 2)


def test_pubacks_are_taken_out_of_the_stream_and_the_rest_reaches_paho(
    pair: tuple[CoalescingSocket, socket.socket],
) -> None:
    sock, broker = pair
    connack, pingresp = b"\x20\x02\x00\x00", b"\xd0\x00"
    stream = connack + b"\x40\x02\x00\x01" + b"\x40\x02\x01\x00" + pingresp + b"\x40\x02\xff"
    broker.sendall(stream)
    assert sock.feed() == [1, 256]  # the last PUBACK is not complete yet
    assert sock.pending() == len(connack + pingresp)
    assert sock.recv(1) == b"\x20" and sock.recv(100) == b"\x02\x00\x00" + pingresp
    with pytest.raises(BlockingIOError):
        sock.recv(1)
    broker.sendall(b"\xff")
    assert sock.feed() == [0xFFFF] and sock.pending() == 0
    broker.close()
    assert sock.feed() == [] and sock.pending() == 1
    assert sock.recv(1) == b""  # paho sees the end of the stream


def test_writes_leave_in_order_in_one_flush(pair: tuple[CoalescingSocket, socket.socket]) -> None:
    sock, broker = pair
    assert sock.send(b"\xc0\x00") == 2  # paho's PINGREQ, buffered
    sock.write(publish_packet(b"t", b"p", 1, 1))
    assert sock.buffered > 2 and sock.flush() and sock.buffered == 0
    assert broker.recv(100) == b"\xc0\x00" + publish_packet(b"t", b"p", 1, 1)


def test_a_full_kernel_buffer_keeps_bytes_and_refuses_paho_past_the_limit(
    pair: tuple[CoalescingSocket, socket.socket],
) -> None:
    sock, broker = pair
    sock.max_buffer = 1 << 16
    chunk = bytes(1 << 16)
    while sock.flush():
        sock.write(chunk)  # until the kernel takes no more
    sock.write(chunk)
    assert sock.buffered >= sock.max_buffer
    with pytest.raises(BlockingIOError):
        sock.send(b"\xc0\x00")
    received = 0
    broker.setblocking(False)
    while not sock.flush() or received == 0:
        with contextlib.suppress(BlockingIOError):
            received += len(broker.recv(1 << 20))
    assert sock.buffered == 0
