"""The sender role and the outgoing batch: how buffered rows become one ingest request.

A batch's body is a deterministic function of its rows, and its ``Idempotency-Key`` a hash of
the gateway id and each row's id and content (the body is the ingest contract's,
:func:`ingest_protocol.encode.batch_body`): a retry of the same rows, even after a restart,
sends the same key with the same body, so the cloud replays its stored answer instead of
storing anything twice. ``sent_at`` is the commit time of the newest row, for the same reason.

Two encodings (``uplink.encoding``): ``msgpack``, the default, is the contract's compact batch
(readings per series, :mod:`ingest_protocol.compact`); ``json`` the JSON batch, byte for byte
what earlier releases sent. Each has its own key (the compact key hashes an encoding tag
first), so a cloud never sees one key with two bodies: a batch an older release may have sent
as JSON and that is retried as compact after the upgrade is a new request, whose points
overwrite themselves in the store (a point is its series and timestamp), so nothing is stored
twice (only the cloud's request counters see that batch twice). See decision 68.

>>> from gateway.buffer import Lane, Row
>>> rows = [Row(1, Lane.BULK, "d1", 1, 90, 1_700_000_000_000, '{"device":"d1","seq":1}')]
>>> b = build_batch("gw-1", rows)
>>> b.body.decode()[:60]
'{"gateway_id":"gw-1","batch_id":"8e4113b6555ae4097939b9402cc'
>>> b.key == build_batch("gw-1", rows).key, b.readings
(True, 1)
"""

from __future__ import annotations

import gc
import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol

from gateway.buffer import Lane, Row
from ingest_protocol.compact import MSGPACK, compact_body
from ingest_protocol.encode import batch_body


@dataclass(frozen=True, slots=True)
class OutgoingBatch:
    """One request: the rows it carries, its idempotency key, its body and media type."""

    rows: Sequence[Row]
    key: str
    body: bytes
    readings: int
    anomalies: int
    content_type: str = "application/json"


@dataclass(frozen=True, slots=True)
class IngestResult:
    """The cloud's answer to a 2xx: how many readings it accepted and which it rejected."""

    accepted: int
    rejected: list[dict[str, object]] = field(default_factory=list)


class Sender(Protocol):
    """Delivers one batch; raises ``RetryableUplinkError`` or ``BatchRejected`` on failure."""

    def send(self, batch: OutgoingBatch) -> IngestResult: ...

    def close(self) -> None: ...


#: ``uplink.encoding`` values: the media type each sends.
ENCODINGS = {"json": "application/json", "msgpack": MSGPACK}


def batch_key(gateway_id: str, rows: Sequence[Row], encoding: str = "json") -> str:
    """The idempotency key of a batch of rows: a SHA-256 of the gateway id, row ids and bodies
    (after an encoding tag, except for ``json``, whose keys are those of earlier releases)."""
    h = hashlib.sha256(b"" if encoding == "json" else f"{encoding}\x00".encode())
    h.update(gateway_id.encode())
    # The same bytes as hashing "\0<id>\0<body>" row by row (UTF-8 encodes a concatenation
    # as the concatenation of the encodings), in one update instead of two per row.
    h.update("".join([f"\x00{row.id}\x00{row.body}" for row in rows]).encode())
    return h.hexdigest()[:32]


@contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while a body is built. Building allocates a few
    containers per reading (decoded entries, per-series arrays) that all die, by reference
    counting, when the body is done: the collections their count would trigger find nothing
    to free, yet a full one walks the whole heap (measured: 40-60% of the build's CPU in a
    running gateway). Left as it was if someone else turned the collector off."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def build_batch(gateway_id: str, rows: Sequence[Row], encoding: str = "json") -> OutgoingBatch:
    """The ingest request for ``rows`` (JSON: readings and anomalies in buffer order;
    ``msgpack``: readings per series, in order of first appearance)."""
    key = batch_key(gateway_id, rows, encoding)
    bulk, prio = [], []
    readings = anomalies = sent_at = 0
    for r in rows:
        if r.lane == Lane.BULK:
            bulk.append(r.body)
            readings += r.count
        else:
            prio.append(r.body)
            anomalies += r.count
        if r.created_ms > sent_at:
            sent_at = r.created_ms
    with _collector_paused():
        if encoding == "json":
            body = batch_body(gateway_id, key, sent_at, bulk, prio)
        else:
            body = compact_body(gateway_id, key, sent_at, bulk, prio, ENCODINGS[encoding])
    return OutgoingBatch(rows=rows, key=key, body=body, content_type=ENCODINGS[encoding],
                         readings=readings, anomalies=anomalies)
