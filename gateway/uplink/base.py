"""The sender role and the outgoing batch: how buffered rows become one ingest request.

A batch's body is a deterministic function of its rows, and its ``Idempotency-Key`` a hash of
the gateway id and each row's id and content (the body is the ingest contract's,
:func:`ingest_protocol.encode.batch_body`): a retry of the same rows, even after a restart,
sends the same key with the same body, so the cloud replays its stored answer instead of
storing anything twice. ``sent_at`` is the commit time of the newest row, for the same reason.

>>> from gateway.buffer import Lane, Row
>>> rows = [Row(1, Lane.BULK, "d1", 1, 90, 1_700_000_000_000, '{"device":"d1","seq":1}')]
>>> b = build_batch("gw-1", rows)
>>> b.body.decode()[:60]
'{"gateway_id":"gw-1","batch_id":"8e4113b6555ae4097939b9402cc'
>>> b.key == build_batch("gw-1", rows).key, b.readings
(True, 1)
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from gateway.buffer import Lane, Row
from ingest_protocol.encode import batch_body


@dataclass(frozen=True, slots=True)
class OutgoingBatch:
    """One request: the rows it carries, its idempotency key and its JSON body."""

    rows: Sequence[Row]
    key: str
    body: bytes
    readings: int
    anomalies: int


@dataclass(frozen=True, slots=True)
class IngestResult:
    """The cloud's answer to a 2xx: how many readings it accepted and which it rejected."""

    accepted: int
    rejected: list[dict[str, object]] = field(default_factory=list)


class Sender(Protocol):
    """Delivers one batch; raises ``RetryableUplinkError`` or ``BatchRejected`` on failure."""

    def send(self, batch: OutgoingBatch) -> IngestResult: ...

    def close(self) -> None: ...


def batch_key(gateway_id: str, rows: Sequence[Row]) -> str:
    """The idempotency key of a batch of rows: a SHA-256 of the gateway id, row ids and bodies."""
    h = hashlib.sha256(gateway_id.encode())
    for row in rows:
        h.update(b"\x00%d\x00" % row.id)
        h.update(row.body.encode())
    return h.hexdigest()[:32]


def build_batch(gateway_id: str, rows: Sequence[Row]) -> OutgoingBatch:
    """The ingest request for ``rows`` (readings and anomalies kept in buffer order)."""
    key = batch_key(gateway_id, rows)
    bulk = [r.body for r in rows if r.lane == Lane.BULK]
    prio = [r.body for r in rows if r.lane == Lane.PRIORITY]
    body = batch_body(gateway_id, key, max((r.created_ms for r in rows), default=0), bulk, prio)
    return OutgoingBatch(
        rows=rows, key=key, body=body,
        readings=sum(r.count for r in rows if r.lane == Lane.BULK),
        anomalies=sum(r.count for r in rows if r.lane == Lane.PRIORITY),
    )
