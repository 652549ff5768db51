"""The buffer role: a durable queue of rows waiting for the cloud, used as a transaction.

``append`` rows (inside the caller's database transaction, so a message's rows become durable
with its acknowledgement) → ``begin`` a batch (rows stay stored) → ``end(accepted, rejected)``:
accepted rows are deleted, rejected rows move to the dead-letter store, every other row of the
batch stays for a later retry (``release`` hands those back). Rows between ``begin`` and
``end``/``release`` are in flight: an overflow never drops them. Nothing leaves the buffer
without one of those two outcomes except by an **overflow drop** or **retention expiry**, and
each of those is counted. The uplink records each batch before sending it
(``remember``), so what a crash or a failure interrupts is sent again as the same batch.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol


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


class Row(NamedTuple):
    """A stored row (a tuple: the uplink reads thousands a second, and a tuple is built from
    the database's row in a fifth of a frozen dataclass's time). ``lane`` is the stored
    integer, equal to its :class:`Lane`."""

    id: int
    lane: int
    stream: str
    count: int  # type: ignore[assignment]  # the field hides tuple.count, unused on a Row
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


class Cursor(NamedTuple):
    """Where a batch ended, per lane: the next batch read ``after`` it starts past these ids
    (several batches in flight at once never share a row)."""

    priority: int
    bulk: int

    @staticmethod
    def past(rows: Sequence[Row], after: Cursor | None = None) -> Cursor:
        """The cursor after ``rows`` (read after ``after``)."""
        prio, bulk = after if after is not None else (0, 0)
        for row in rows:
            if row.lane == Lane.PRIORITY:
                prio = max(prio, row.id)
            else:
                bulk = max(bulk, row.id)
        return Cursor(prio, bulk)


class Buffer(Protocol):
    """A durable, bounded queue of rows waiting for the cloud."""

    def append(self, rows: Sequence[NewRow]) -> None:
        """Store ``rows`` (joining the current transaction); drop the oldest if over the bound."""
        ...

    def has_room(self) -> bool:
        """False when full under the ``backpressure`` policy: stop acknowledging new messages."""
        ...

    def begin(self, max_rows: int, max_bytes: int, max_items: int | None = None,
              after: Cursor | None = None, hold: bool = True,
              max_events: int | None = None) -> list[Row]:
        """The oldest rows (priority lane first) up to the limits (rows, bytes, and items
        summed over the rows' counts; ``max_events``: items of the priority lane, where a
        batch that reaches it ends, without bulk rows); at least one if any exist. With
        ``after`` (what an earlier, still unsettled batch ended with), only rows past it in
        each lane. They are in flight from now on, unless ``hold`` is false (a look only)."""
        ...

    def end(self, accepted: Sequence[Row], rejected: Sequence[tuple[Row, str]] = (),
            flight: int | None = None) -> None:
        """Delete ``accepted``; move each ``(row, reason)`` in ``rejected`` to the dead letters;
        forget ``flight`` (see :meth:`remember`) in the same transaction."""
        ...

    def remember(self, rows: Sequence[Row]) -> int:
        """Record, before they are sent, that ``rows`` (read by :meth:`begin`) travel as one
        batch; the flight's id. Until it is forgotten, :meth:`recall` hands the same rows
        back, so a batch whose answer a crash or a failure hid is sent again as itself (same
        key, same body), never recomposed with rows that arrived since."""
        ...

    def recall(self, after: int = 0) -> tuple[int, list[Row]] | None:
        """The oldest remembered flight after id ``after`` with rows still buffered, and those
        rows (in flight from now on); None when there is none. Flights with no rows left are
        forgotten."""
        ...

    def forget(self, flight: int) -> None:
        """The batch ``flight`` is settled: it need never be sent as itself again."""
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
