"""The processing stage: consumes the raw intake log in order and keeps a durable cursor.

Decoding, validation, dead-lettering, de-duplication, scoring and buffering run here, one
batch of log entries at a time, through :class:`~gateway.pipeline.Pipeline`. A batch's buffered
rows, dead letters, de-duplication slots **and the cursor** are committed in one transaction of
the gateway database, so a kill at any point leaves either all of a batch's effects or none:
after a restart the stage re-reads the log from the cursor and reaches the same decisions (the
de-duplication window it consults is exactly the one committed with that cursor), producing the
same rows. Nothing is lost (the log entries are trimmed only once the cursor has passed them)
and nothing is sent twice (the uplink's batch ids are deterministic and the cloud upserts).

One thread, so per-stream order and per-stream detector state need nothing more. Detector
*learning* is not part of the promise: a batch re-processed after a crash is scored by detector
state as last saved, so its anomaly events may differ from the ones the crash cut short.

A short batch waits until its oldest entry is ``intake.process_linger_ms`` old for more to
join it. The stage shares the interpreter with the intake thread; while the intake is behind
the broker it yields after each batch for :data:`YIELD` times the CPU time the batch took, so
acknowledging stays ahead of processing, and the log absorbs bursts. The intake stops
acknowledging when the log's backlog reaches ``intake.max_backlog`` (see
:class:`~gateway.intake.Intake`), which bounds both the log and the time to catch up.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from gateway.db import Database
from gateway.decode_worker import DecodeWorker
from gateway.decoding import Result
from gateway.errors import GatewayError, StoreError
from gateway.metrics import GatewayMetrics
from gateway.pipeline import Incoming, Pipeline
from gateway.rawlog import Logged, RawLog

log = logging.getLogger("gateway.processor")

#: While the intake is receiving, the stage sleeps this many times the CPU time its last batch
#: took: the intake thread gets most of the interpreter (acknowledging stays ahead), the stage
#: at least a third of it; past ``yield_below`` unprocessed entries it stops yielding.
YIELD = 2.0

_SCHEMA = ("CREATE TABLE IF NOT EXISTS intake_cursor"
           " (name TEXT PRIMARY KEY, value INTEGER NOT NULL)")


def load_cursor(db: Database) -> int:
    """The id of the newest log entry whose effects are committed (0 for a new data dir)."""
    with db.transaction() as conn:
        conn.execute(_SCHEMA)
        row = conn.execute("SELECT value FROM intake_cursor WHERE name = 'log'").fetchone()
    return int(row[0]) if row else 0


class Processor:
    """Reads ``log`` after the cursor and runs ``pipeline`` over it, batch by batch."""

    def __init__(self, db: Database, raw_log: RawLog, pipeline: Pipeline, metrics: GatewayMetrics,
                 batch: int = 500, intake_busy: Callable[[], bool] = lambda: False,
                 yield_below: int = 50_000, worker: DecodeWorker | None = None,
                 linger_ms: float = 0.0) -> None:
        self._db = db
        self._log = raw_log
        self._pipeline = pipeline
        self._metrics = metrics
        self._batch = batch
        self._intake_busy = intake_busy
        self._yield_below = yield_below
        self._worker = worker
        self._linger_ms = linger_ms
        self.cursor = load_cursor(db)
        self._ahead: dict[int, Result] = {}  # log id -> decoded while the last batch scored
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._worker is not None:
            self._worker.start()
        self._thread = threading.Thread(target=self._run, name="processor", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the batch in progress and stop (the rest waits in the log)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._worker is not None:
            self._worker.stop()

    def notify(self) -> None:
        """New entries were appended (called by the intake after its commit)."""
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                entries = self._log.read(self.cursor, self._batch)
            except StoreError as exc:
                self._fail(exc)
                continue
            if not entries:
                self._wake.wait(0.05)
                self._wake.clear()
                continue
            if len(entries) < self._batch and self._linger(entries[0][3]):
                continue  # read again: more may have joined
            started, cpu = time.perf_counter(), time.thread_time()
            try:
                self.process(entries)
            except Exception as exc:  # nothing may stop the stage; the cursor did not move
                self._fail(exc)
                continue
            cpu = time.thread_time() - cpu
            self._metrics.process_duration.observe(time.perf_counter() - started)
            self._metrics.process_cpu.inc(cpu)
            if self._intake_busy() and self._log.backlog < self._yield_below:
                # Let the intake thread have the interpreter, in proportion to the time this
                # batch *held* it: while the stage waited for its commit's fsync (or for the
                # CPU on a busy machine), the intake could run already.
                self._stop.wait(YIELD * cpu)

    def _linger(self, oldest_ms: int) -> bool:
        """Wait until the oldest entry read is ``linger_ms`` old, for more to join a short
        batch; False when it is that old already. A transaction, its fsync and the pipeline's
        set-up cost the same for 5 entries as for 500: at 1,000 msg/s unbatched they made the
        stage's CPU per message four times what it is on a backlog (decision 91)."""
        wait = (oldest_ms + self._linger_ms) / 1000 - time.time()
        if wait <= 0:
            return False
        self._stop.wait(min(wait, self._linger_ms / 1000))
        return not self._stop.is_set()

    def process(self, entries: Sequence[Logged]) -> None:
        """Run the pipeline over ``entries`` and advance the cursor, in one transaction.

        While a score worker scores them, the next entries are read and decoded (decoding is
        a function of the entry alone, so a result made ahead is the one made later; it is
        kept in memory only, keyed by log id, for the next call)."""
        items = [Incoming(topic, payload, received) for _, topic, payload, received in entries]
        begun = self._pipeline.begin(items, self._decoded(entries, items))
        try:
            if begun.elsewhere:
                self._decode_ahead(entries[-1][0])
        finally:  # the worker's answer is always taken, or the next batch would get it
            prepared = self._pipeline.finish(begun)
        last = entries[-1][0]
        with self._db.transaction() as conn:  # held only for the writes (see Pipeline.prepare)
            self._pipeline.write(prepared)
            conn.execute("INSERT OR REPLACE INTO intake_cursor (name, value) VALUES ('log', ?)",
                         (last,))
        self.cursor = last
        self._log.processed(last)

    def _decoded(self, entries: Sequence[Logged], items: list[Incoming]) -> list[Result] | None:
        """The results of ``entries``: those decoded ahead, the others decoded now (None: the
        pipeline decodes them all inline)."""
        ahead, self._ahead = self._ahead, {}
        if not ahead:  # inline scoring: nothing is ever decoded ahead
            return self._decode(items)
        missing = [i for i, e in enumerate(entries) if e[0] not in ahead]
        if len(missing) == len(entries):
            return self._decode(items)
        done: list[Result | None] = [ahead.get(e[0]) for e in entries]
        if missing:
            rest = [items[i] for i in missing]
            for i, result in zip(missing, self._decode(rest) or self._pipeline.decode(rest),
                                 strict=True):
                done[i] = result
        return [r for r in done if r is not None]

    def _decode_ahead(self, after: int) -> None:
        try:
            entries = self._log.read(after, self._batch)
        except StoreError:
            return  # only an optimisation: the next batch reads and decodes as usual
        if not entries:
            return
        items = [Incoming(topic, payload, received) for _, topic, payload, received in entries]
        results = self._decode(items) or self._pipeline.decode(items)
        self._ahead = {e[0]: r for e, r in zip(entries, results, strict=True)}

    def _decode(self, items: list[Incoming]) -> list[Result] | None:
        worker = self._worker
        if worker is None:
            return None  # the pipeline decodes inline
        try:
            worker.submit([(i.topic, i.payload, i.received_ms) for i in items])
            return worker.collect()
        except GatewayError as exc:
            log.error("%s; decoding inline from now on", exc)
            self._metrics.decode_worker_failures.inc()
            worker.stop()
            self._worker = None
            return None

    def _fail(self, exc: Exception) -> None:
        log.error("processing stage: %s; retrying the same log entries in 1 s", exc,
                  exc_info=not isinstance(exc, StoreError))
        self._metrics.process_failures.inc()
        self._stop.wait(1.0)
