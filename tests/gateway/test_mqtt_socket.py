"""The intake's read-ahead socket: small reads from one large read, queued writes in order,
and a dead connection never raises out of a write of PUBACKs."""

from __future__ import annotations

import socket

from gateway.mqtt_socket import ReadAheadSocket, puback


def test_reads_ahead_and_reports_what_it_holds() -> None:
    a, b = socket.socketpair()
    try:
        sock = ReadAheadSocket(a)
        b.sendall(b"\x30\x05hello\x40\x02")
        assert sock.recv(1) == b"\x30"
        assert sock.pending() == 8
        assert sock.recv(1) == b"\x05" and sock.recv(5) == b"hello"
        assert sock.recv(10) == b"\x40\x02" and sock.pending() == 0
    finally:
        a.close()
        b.close()


def test_queued_pubacks_go_first_and_a_dead_peer_does_not_raise() -> None:
    a, b = socket.socketpair()
    sock = ReadAheadSocket(a)
    sock.queue(puback(1) + puback(2))
    assert sock.send(b"\xc0\x00") == 2  # a PINGREQ from paho goes after them
    assert b.recv(100) == puback(1) + puback(2) + b"\xc0\x00"
    b.close()
    a.setblocking(False)
    for _ in range(3):  # the first send may still succeed; later ones hit the closed peer
        sock.queue(puback(3) * 1000)
    assert sock.flush()
    a.close()
