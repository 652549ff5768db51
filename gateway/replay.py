"""Replaying dead letters once their cause is fixed (a codec update, a cloud-side fix).

An intake entry runs through the pipeline again: if it now decodes it is buffered (or found to
be a duplicate) and its entry deleted; if it still fails, the pipeline records a fresh entry
with the current reason and the old one is deleted, all in one transaction. An uplink entry
(a row the cloud refused) goes back into the buffer as it was.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gateway.buffer import Buffer, Lane, NewRow
from gateway.db import Database
from gateway.deadletter import INTAKE, DeadLetterStore
from gateway.pipeline import Incoming, Outcome, Pipeline


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """What happened to each replayed entry."""

    buffered: int = 0
    duplicates: int = 0
    still_failing: int = 0
    missing: int = 0


def replay(ids: Sequence[int], db: Database, dead: DeadLetterStore, buffer: Buffer,
           pipeline: Pipeline) -> ReplayResult:
    """Replay the dead letters ``ids``; counts of the outcomes."""
    counts = {"buffered": 0, "duplicates": 0, "still_failing": 0, "missing": 0}
    for entry_id in ids:
        entry = dead.get(entry_id)
        if entry is None:
            counts["missing"] += 1
            continue
        if entry.truncated:  # only its first bytes and hash were kept: nothing to replay
            counts["still_failing"] += 1
            continue
        with db.transaction():
            dead.delete([entry_id])
            if entry.source == INTAKE:
                (outcome,) = pipeline.handle(
                    [Incoming(entry.topic or "", entry.payload, entry.created_ms)])
            else:
                buffer.append([NewRow(Lane(entry.lane or 1), entry.stream or "",
                                      entry.count or 1, entry.payload.decode())])
                outcome = Outcome.BUFFERED
        key = {Outcome.BUFFERED: "buffered", Outcome.DUPLICATE: "duplicates",
               Outcome.DEAD_LETTERED: "still_failing"}[outcome]
        counts[key] += 1
    return ReplayResult(**counts)
