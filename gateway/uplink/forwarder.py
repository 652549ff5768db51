"""The uplink service: drains the buffer to the cloud in batches, never losing a row.

Rows are read oldest first (priority lane first). A batch waits until it holds ``ready_rows``
rows (or half its bytes) or its oldest row is ``linger_ms`` old, and takes up to ``max_rows``
(and its bytes, readings and events caps) when more are waiting: small batches keep latency low
at steady rates, large ones make a backlog drain cheaply (fewer requests and transactions). Up
to ``max_in_flight`` full batches are sent at once (a partial one only alone: a restart reads
every full batch again the same), each on a sender thread, the next one read past the last (a
:class:`Cursor`, so no row is in two requests) and built while the others travel; their answers
are settled **in the order the batches were read**, by this thread alone (deleting, splitting,
counting). Rows are deleted only after a 2xx. Each batch is recorded in the buffer before it is
sent (``remember``) and forgotten when it settles, so the batches a crash or a failure left
unsettled are sent again first, one at a time, each with exactly its rows (same key, same body:
the cloud answers from its idempotency store what it stored), never recomposed with rows that
arrived since. When one batch fails, every batch still in flight is settled as it comes back (a
2xx deletes its rows all the same) before the wait, then the unsettled ones go again, oldest
first. A retryable failure keeps the rows and waits (``Retry-After`` or backoff with jitter)
while the circuit breaker counts failures (half-open, one probe goes alone). A 400/413/422
splits the batch in halves until the offending rows are isolated; each of those goes to the
dead-letter store and the rest goes through; after a 413 (limits below the batch) later batches
carry half its readings and events. A 401 or 403 marks the token refused (``auth_refused``, for
readiness and the metrics) until the next 2xx. On ``stop()`` one last flush runs within a
deadline.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from concurrent import futures
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from common.backoff import Backoff
from gateway.buffer import Buffer, Cursor, Lane, Row
from gateway.errors import BatchRejected, RetryableUplinkError, StoreError
from gateway.metrics import GatewayMetrics
from gateway.uplink.base import IngestResult, OutgoingBatch, Sender, build_batch
from gateway.uplink.breaker import HALF_OPEN, STATE_CODES, CircuitBreaker

log = logging.getLogger("gateway.uplink")

EXPIRE_EVERY_S = 60.0
#: Statuses meaning the cloud refuses the token (wrong, revoked, or another gateway's).
AUTH_REFUSED = frozenset({401, 403})


@dataclass(frozen=True, slots=True)
class _Flight:
    """A batch on its way: its rows, body, start time, the sender thread's answer,
    whether it was full (others may join only full batches), and its flight record."""

    rows: Sequence[Row]
    batch: OutgoingBatch
    started: float
    answer: Future[IngestResult]
    full: bool
    ledger: int  # the buffer's record of it (Buffer.remember)


class Uplink:
    """Forwards buffered rows through a :class:`~gateway.uplink.base.Sender`."""

    def __init__(
        self,
        gateway_id: str,
        buffer: Buffer,
        sender: Sender,
        retry: Backoff,
        breaker: CircuitBreaker,
        metrics: GatewayMetrics,
        max_rows: int = 500,
        max_bytes: int = 1 << 20,
        linger_ms: float = 200.0,
        shutdown_flush_s: float = 5.0,
        encoding: str = "msgpack",
        max_in_flight: int = 2,
        max_readings: int | None = None,
        ready_rows: int | None = None,
        max_anomalies: int | None = None,
    ) -> None:
        self._gateway_id = gateway_id
        self._buffer = buffer
        self._sender = sender
        self._retry = retry
        self._breaker = breaker
        self._metrics = metrics
        self.max_rows = max_rows
        self.max_bytes = max_bytes
        self.linger_ms = linger_ms
        self.shutdown_flush_s = shutdown_flush_s
        self.encoding = encoding  #: ``json`` or ``msgpack`` (see gateway.uplink.base)
        self.max_in_flight = max(1, max_in_flight)
        self.max_readings = max_readings  #: items (readings, events) per batch, None: no cap
        #: rows that make a batch go without waiting ``linger_ms`` (None: ``max_rows``)
        self.ready_rows = ready_rows
        #: anomaly events per batch (the cloud's ``limits.max_anomalies_per_batch``), None: no cap
        self.max_anomalies = max_anomalies
        self._flights: deque[_Flight] = deque()
        self._cursor: Cursor | None = None  # past the newest batch in flight
        # Recorded flights to send again as they were, after this flight id; None: none left.
        self._recall_after: int | None = 0
        self._pool: ThreadPoolExecutor | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_expire = 0.0
        self._auth_refused: str | None = None
        self._swap_lock = threading.Lock()
        self._next_parts: tuple[Sender | None, Backoff | None] = (None, None)

    def reconfigure(self, sender: Sender | None = None, retry: Backoff | None = None) -> None:
        """Use ``sender`` and ``retry`` from the next batch on (a configuration reload). The
        uplink thread makes the swap between batches and closes the old sender."""
        with self._swap_lock:
            old_sender, old_retry = self._next_parts
            self._next_parts = (sender or old_sender, retry or old_retry)
            if old_sender is not None and sender is not None:
                old_sender.close()

    def _swap(self) -> None:
        with self._swap_lock:
            sender, retry = self._next_parts
            self._next_parts = (None, None)
        if sender is not None:
            self._sender, old = sender, self._sender
            old.close()
        if retry is not None:
            self._retry = retry

    def _swap_pending(self) -> bool:
        with self._swap_lock:
            return self._next_parts != (None, None)

    def start(self) -> None:
        self._pool = ThreadPoolExecutor(self.max_in_flight, thread_name_prefix="uplink-send")
        self._thread = threading.Thread(target=self._run, name="uplink", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop after one last flush attempt bounded by ``shutdown_flush_s``."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.shutdown_flush_s + 30.0)
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        self._swap()
        self._sender.close()

    @property
    def breaker_state(self) -> str:
        return self._breaker.state

    @property
    def auth_refused(self) -> str | None:
        """Why the cloud refuses the uplink token (its last answer was 401 or 403), else None."""
        return self._auth_refused

    def _note_auth(self, exc: RetryableUplinkError) -> None:
        if exc.status not in AUTH_REFUSED:
            return
        self._metrics.uplink_auth_failures.inc()
        self._metrics.uplink_auth_ok.set(0)
        self._auth_refused = f"the cloud refused the uplink token: {exc}"

    # -- the loop ----------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._step()
            except StoreError as exc:
                log.error("uplink: buffer error: %s", exc)
                self._stop.wait(1.0)
        self._final_flush()

    def _step(self) -> None:
        if not self._flights:
            self._swap()  # a new sender only between requests
            if time.monotonic() >= self._next_expire:
                self._buffer.expire(time.time_ns() // 10**6)
                self._next_expire = time.monotonic() + EXPIRE_EVERY_S
        if not self._breaker.allow():
            self._stop.wait(min(self._breaker.remaining(), 1.0))
            return
        # Half-open, one probe alone; a new sender waits until the old one's answers are in.
        room = 1 if self._breaker.state == HALF_OPEN else self.max_in_flight
        if len(self._flights) < room and not self._swap_pending():
            if self._recall_after is not None:
                # Batches a crash or a failure left unsettled go first, as they were, alone.
                if not self._flights:
                    self._launch_recalled()
                    return
            else:
                rows = self._read(self._cursor)
                full = bool(rows) and self._full(rows)  # a full batch has nothing to wait for
                wait = 0.0 if full else self._linger_left(rows) if rows else 0.05
                # Only full batches fly together (a partial one, lingered out, goes alone), so
                # batches keep leaving in the order and composition they were read in.
                if rows and wait <= 0 and (
                        not self._flights or (full and self._flights[-1].full)):
                    self._launch(rows, full)
                    return
                if rows:
                    self._buffer.release(rows)  # not yet: read again later
                if not self._flights:
                    self._stop.wait(min(wait, 0.05))
                    return
            head = self._flights[0].answer
            futures.wait([head], timeout=0.05)  # room left: look at the buffer again soon
            if not head.done():
                return
        self._settle_next()

    def _read(self, after: Cursor | None = None) -> list[Row]:
        """The next batch's rows past ``after``, within every cap."""
        return self._buffer.begin(self.max_rows, self.max_bytes, self.max_readings, after,
                                  max_events=self.max_anomalies)

    def _launch(self, rows: Sequence[Row], full: bool, ledger: int | None = None) -> None:
        """Record ``rows`` as a flight (unless ``ledger`` already is its record), build their
        batch and hand it to a sender thread."""
        assert self._pool is not None, "start() the uplink first"
        if ledger is None:
            ledger = self._remember(rows)
        batch = build_batch(self._gateway_id, rows, self.encoding)
        answer = self._pool.submit(self._sender.send, batch)
        self._flights.append(_Flight(rows, batch, time.perf_counter(), answer, full, ledger))
        self._cursor = Cursor.past(rows, self._cursor)

    def _remember(self, rows: Sequence[Row]) -> int:
        try:
            return self._buffer.remember(rows)
        except StoreError:
            self._buffer.release(rows)  # never sent
            raise

    def _launch_recalled(self) -> None:
        """Send the next recorded flight again, with exactly the rows it had (so the same key
        and body: the cloud answers from its idempotency store if it stored it)."""
        found = self._recall(self._recall_after or 0)
        if found is None:
            self._recall_after = None
            return
        ledger, rows = found
        self._recall_after = ledger
        self._launch(rows, False, ledger)

    def _recall(self, after: int) -> tuple[int, list[Row]] | None:
        """The next recorded flight after ``after`` with rows left, counted as sent again."""
        found = self._buffer.recall(after)
        if found is not None:
            self._metrics.uplink_resent.inc()
        return found

    def _settle_next(self) -> None:
        """Wait for the oldest batch in flight and settle it; on a retryable failure settle
        the rest too, then wait as the retry policy says."""
        flight = self._flights.popleft()
        try:
            self._settle(flight)
        except RetryableUplinkError as exc:
            self._failed(flight.rows, exc)
            while self._flights:
                other = self._flights.popleft()
                try:
                    self._settle(other)
                except RetryableUplinkError as also:
                    self._failed(other.rows, also)
            self._cursor = None
            self._recall_after = 0  # the failed ones again, as they were, oldest first
            delay = self._retry.next(exc.retry_after)
            log.warning("uplink: %s; rows kept, retrying in %.1f s (breaker %s)",
                        exc, delay, self._breaker.state)
            self._stop.wait(delay)
            return
        finally:
            if not self._flights:
                self._cursor = None  # read from the oldest row again
        self._breaker.record_success()
        self._retry.reset()

    def _settle(self, flight: _Flight) -> None:
        """Apply ``flight``'s answer: delete its rows, or split it on a rejection (synchronously,
        as :meth:`deliver`); raises RetryableUplinkError."""
        try:
            result = flight.answer.result()
        except BatchRejected as exc:
            self._rejected(flight.rows, exc, flight.ledger)
            return
        self._accepted(flight.rows, flight.batch, result, flight.started, flight.ledger)

    def _failed(self, rows: Sequence[Row], exc: RetryableUplinkError) -> None:
        if exc.undelivered:  # else the cloud may hold them: overflow must not count them
            self._buffer.release(rows)
        self._breaker.record_failure()
        self._metrics.uplink_batches.labels(outcome="failed").inc()
        self._metrics.uplink_retries.inc()
        self._note_auth(exc)

    def _full(self, rows: Sequence[Row]) -> bool:
        """Whether a limit ended ``rows`` (read past the cursor; rows, bytes, items, events),
        not the end of the buffer: then more rows appended later cannot change them."""
        if len(rows) >= self.max_rows:
            return True
        after = Cursor.past(rows, self._cursor)
        peek = self._buffer.begin(1, self.max_bytes, None, after, hold=False)
        if not peek:
            return False
        cap, events, nxt = self.max_readings, self.max_anomalies, peek[0]
        return (sum(r.size for r in rows) + nxt.size > self.max_bytes
                or (cap is not None and sum(r.count for r in rows) + nxt.count > cap)
                or (events is not None and nxt.lane == Lane.PRIORITY
                    and sum(r.count for r in rows if r.lane == Lane.PRIORITY) + nxt.count
                    > events))

    def _linger_left(self, rows: Sequence[Row]) -> float:
        ready = self.max_rows if self.ready_rows is None else min(self.ready_rows, self.max_rows)
        if len(rows) >= ready or sum(r.size for r in rows) >= self.max_bytes // 2:
            return 0.0
        age_ms = time.time_ns() // 10**6 - rows[0].created_ms
        return max(0.0, (self.linger_ms - age_ms) / 1000.0)

    def _final_flush(self) -> None:
        deadline = time.monotonic() + self.shutdown_flush_s
        while self._flights:  # the answers of what is on its way first, in order
            flight = self._flights.popleft()
            try:
                self._settle(flight)
            except RetryableUplinkError as exc:
                if exc.undelivered:
                    self._buffer.release(flight.rows)
        self._cursor = None
        recall_after: int | None = 0
        while time.monotonic() < deadline:
            found = self._recall(recall_after) if recall_after is not None else None
            if found is not None:
                ledger, rows = found
                recall_after = ledger
            else:
                recall_after = None
                rows = self._read()
                if not rows:
                    return
                ledger = self._remember(rows)
            try:
                self.deliver(rows, ledger)
            except RetryableUplinkError as exc:
                if exc.undelivered:
                    self._buffer.release(rows)
                log.warning("uplink: last flush failed (%s); %d+ rows stay buffered", exc,
                            len(rows))
                return

    # -- delivery ----------------------------------------------------------------------------

    def deliver(self, rows: Sequence[Row], ledger: int | None = None) -> None:
        """Send ``rows`` now, on this thread, splitting on 400/413/422, then forget their flight
        record ``ledger``, if any; raises RetryableUplinkError to retry later."""
        batch = build_batch(self._gateway_id, rows, self.encoding)
        started = time.perf_counter()
        try:
            result = self._sender.send(batch)
        except BatchRejected as exc:
            self._rejected(rows, exc, ledger)
            return
        self._accepted(rows, batch, result, started, ledger)

    def _rejected(self, rows: Sequence[Row], exc: BatchRejected,
                  ledger: int | None = None) -> None:
        """The cloud refused the batch: halve it until each refused row stands alone, and move
        that one to the dead letters; then forget the batch's flight record ``ledger``."""
        self._metrics.uplink_batches.labels(outcome="rejected").inc()
        if exc.status == 413:
            self._shrink(rows)
        if len(rows) == 1:
            log.error("uplink: the cloud refuses row %d (%s); moved to the dead letters",
                      rows[0].id, exc)
            self._buffer.end([], [(rows[0], str(exc))], flight=ledger)
            self._metrics.dead_letters.labels(reason="uplink_rejected").inc()
            return
        half = len(rows) // 2
        self.deliver(rows[:half])
        self.deliver(rows[half:])
        if ledger is not None:
            self._buffer.forget(ledger)

    def _shrink(self, rows: Sequence[Row]) -> None:
        """The cloud's limits are below this batch (413): later batches carry at most half its
        readings and events, until a restart, or a reload that sets the caps again."""
        items = sum(r.count for r in rows)
        events = sum(r.count for r in rows if r.lane == Lane.PRIORITY)
        cap = max(1, items // 2)
        if self.max_readings is None or cap < self.max_readings:
            self.max_readings = cap
            log.warning("uplink: the cloud refused a batch of %d readings and events as too "
                        "large (413); batches now carry at most %d (match "
                        "uplink.max_batch_readings and max_batch_anomalies to the cloud's "
                        "limits)", items, cap)
        if events > 1 and (self.max_anomalies is None or events // 2 < self.max_anomalies):
            self.max_anomalies = events // 2

    def _accepted(self, rows: Sequence[Row], batch: OutgoingBatch, result: IngestResult,
                  started: float, ledger: int | None = None) -> None:
        self._metrics.uplink_duration.observe(time.perf_counter() - started)
        self._buffer.end(rows, flight=ledger)
        m = self._metrics
        if self._auth_refused is not None:
            self._auth_refused = None
            m.uplink_auth_ok.set(1)
        m.uplink_batches.labels(outcome="ok").inc()
        m.uplink_readings.inc(batch.readings)
        m.uplink_anomalies.inc(batch.anomalies)
        if result.rejected:
            m.uplink_cloud_rejected.inc(len(result.rejected))


def breaker_code(state: str) -> int:
    """The breaker state as a gauge value: 0 closed, 1 open, 2 half-open."""
    return STATE_CODES[state]
