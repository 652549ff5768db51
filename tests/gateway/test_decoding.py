"""Decoding inline and in the worker process give the same results; a dead worker is reported."""

from __future__ import annotations

import pytest

from firmware_protocol.codecs import get_codec
from firmware_protocol.topics import Subscription
from gateway.decode_worker import DecodeWorker
from gateway.decoding import Decoded, Rejected, decode_batch
from gateway.errors import GatewayError
from tests.support.publisher import message

SPECS: list[tuple[str, str | None]] = [("sensors/{site}/{device}/{format}", None)]


def items() -> list[tuple[str, bytes, int]]:
    good = [(f"sensors/s/d{i}/json", get_codec("json").encode(message(f"d{i}", i)), i)
            for i in range(20)]
    bad = [("sensors/s/d1/binary", b"\x00\x01", 0), ("other/topic", b"{}", 0),
           ("sensors/s/d1/json", b'{"seq": -1}', 0)]
    return good + bad


def test_worker_and_inline_decoding_agree() -> None:
    inline = decode_batch([Subscription(t, c) for t, c in SPECS], items(), keep_message=True)
    worker = DecodeWorker(SPECS, keep_messages=True)
    worker.start()
    try:
        worker.submit(items())
        assert worker.busy and worker.ready(30)
        assert worker.collect() == inline
    finally:
        worker.stop()
    assert [type(r) for r in inline] == [Decoded] * 20 + [Rejected] * 3
    assert [r.reason for r in inline[20:]] == ["malformed", "no_route", "bad_field"]  # type: ignore[union-attr]


def test_a_dead_worker_is_reported_not_hung() -> None:
    worker = DecodeWorker(SPECS, keep_messages=False)
    worker.start()
    worker._proc.kill()
    worker._proc.join()
    with pytest.raises(GatewayError):
        worker.submit(items())
        worker.collect()
    worker.stop()
