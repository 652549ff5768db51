"""The buffer role: a durable queue of rows waiting for the cloud, used as a transaction.

``append`` rows (inside the caller's database transaction, so a message's rows become durable
with its acknowledgement) → ``begin`` a batch (rows stay stored) → ``end(accepted, rejected)``:
accepted rows are deleted, rejected rows move to the dead-letter store, every other row of the
batch stays for a later retry (``release`` hands those back). Rows between ``begin`` and
``end``/``release`` are in flight: an overflow never drops them. Nothing leaves the buffer
without one of those two outcomes except by an **overflow drop** or **retention expiry**, and
each of those is counted.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


class Lane(enum.IntEnum):
    """Rows in the priority lane leave before any bulk row."""

    PRIORITY = 0  #: anomaly events
    BULK = 1  #: readings


@dataclass(frozen=True, slots=True)
class NewRow:
    """A row to append: ``body`` is the comma-joined JSON objects of its ``count`` items."""

    lane: Lane
    stream: str
    count: int
    body: str


@dataclass(frozen=True, slots=True)
class Row:
    """A stored row."""

    id: int
    lane: Lane
    stream: str
    count: int
    size: int
    created_ms: int
    body: str


@dataclass(frozen=True, slots=True)
class BufferStats:
    """What the buffer holds and what it lost, for metrics and logs."""

    rows: int
    bytes: int
    oldest_ms: int | None
    dropped_readings: int
    dropped_anomalies: int
    expired_readings: int
    expired_anomalies: int


class Buffer(Protocol):
    """A durable, bounded queue of rows waiting for the cloud."""

    def append(self, rows: Sequence[NewRow]) -> None:
        """Store ``rows`` (joining the current transaction); drop the oldest if over the bound."""
        ...

    def has_room(self) -> bool:
        """False when full under the ``backpressure`` policy: stop acknowledging new messages."""
        ...

    def begin(self, max_rows: int, max_bytes: int) -> list[Row]:
        """The oldest rows (priority lane first) up to the limits; at least one if any exist."""
        ...

    def end(self, accepted: Sequence[Row], rejected: Sequence[tuple[Row, str]] = ()) -> None:
        """Delete ``accepted``; move each ``(row, reason)`` in ``rejected`` to the dead letters."""
        ...

    def release(self, rows: Sequence[Row]) -> None:
        """Give back rows of a batch that was not delivered: overflow may drop them again."""
        ...

    def expire(self, now_ms: int) -> int:
        """Delete rows older than the retention limit (counted); the number of rows deleted."""
        ...

    def stats(self) -> BufferStats:
        """Current contents and loss counters."""
        ...
