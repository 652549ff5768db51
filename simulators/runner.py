"""The run loop: pace a source's publishes, bound what is in flight, write the manifest.

Publishes go out in the source's order, each no earlier than about a millisecond before its
``due_s``. When the next one is not due yet the runner sleeps until it is, plus ``linger_s``
(default 4 ms), and then sends everything due: a paced run publishes in groups of a few
milliseconds' worth, each up to ``linger_s`` late, rather than waking (and waking its I/O
thread) for every message - at thousands of messages a second those wake-ups cost as much CPU
as making the messages. At most
``max_pending`` publishes wait for their acknowledgement at once (paho has 65,535 message ids
per connection, and an unbounded queue would hide a stalled broker): beyond that the runner
waits for the oldest; if that one stays unacknowledged for ``ack_timeout`` seconds the broker
is taken to be gone and the run stops (:attr:`Runner.stalled`). Manifest lines are written in
send order as soon as each publish's fate is known; at the end the runner waits up to
``ack_timeout`` seconds for the last PUBACKs, and whatever is still unconfirmed is recorded
``acked: false``.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable

from simulators.manifest import ManifestWriter
from simulators.outgoing import Outgoing, Source
from simulators.progress import Progress, RunStats
from simulators.publisher import Delivery, Publisher

_Pending = tuple[int, Outgoing, Delivery | None]


class _Stalled(Exception):
    """The oldest publish waited ``ack_timeout`` seconds with the in-flight window full."""


class Runner:
    """Drives one run of a :class:`Source` through a :class:`Publisher`."""

    def __init__(
        self,
        source: Source,
        publisher: Publisher,
        manifest: ManifestWriter,
        *,
        count: int | None = None,
        duration_s: float | None = None,
        max_pending: int = 2000,
        ack_timeout: float = 30.0,
        progress: Progress | None = None,
        linger_s: float = 0.004,
    ) -> None:
        self.source = source
        self.publisher = publisher
        self.manifest = manifest
        self.count = count
        self.duration_s = duration_s
        self.max_pending = max_pending
        self.ack_timeout = ack_timeout
        self.progress = progress
        self.linger_s = linger_s
        self.stats = RunStats()
        self._pending: deque[_Pending] = deque()
        self._n = 0
        self._started = 0.0
        #: True when a KeyboardInterrupt (Ctrl-C, or SIGTERM through the CLI) ended the run.
        self.interrupted = False
        #: True when the oldest publish went unacknowledged for ``ack_timeout`` mid-run.
        self.stalled = False

    def run(self) -> RunStats:
        """Publish until the count, the duration or the source is exhausted; return the stats."""
        self._started = time.monotonic()
        try:
            for items in self._steps():
                self._send_all(items)
            self._send_all(self.source.flush())
        except KeyboardInterrupt:
            self.interrupted = True
            self.ack_timeout = min(self.ack_timeout, 5.0)
        except _Stalled:
            self.stalled = True
        try:
            if self.stalled:
                self._give_up()
            else:
                self._finish()
        except KeyboardInterrupt:
            self.interrupted = True
            self._give_up()
        self.stats.produced = self.source.produced
        self.stats.elapsed_s = time.monotonic() - self._started
        self.stats.errors = self.publisher.errors
        if self.progress is not None:
            self.progress.update(self.stats, self._started, force=True)
            self.progress.close()
        return self.stats

    def _steps(self) -> Iterable[list[Outgoing]]:
        for items in self.source:
            yield items
            if self.count is not None and self.source.produced >= self.count:
                return
            elapsed = time.monotonic() - self._started
            if self.duration_s is not None and elapsed >= self.duration_s:
                return

    def _send_all(self, items: list[Outgoing]) -> None:
        for item in items:
            self._pace(item.due_s)
            delivery = None
            if item.payload is not None:
                conn = item.conn % self.publisher.connections
                delivery = self.publisher.publish(conn, item.topic, item.payload, item.qos)
                self.stats.published += 1
                self.stats.duplicates += item.duplicate
                self.stats.malformed += item.malformed
            else:
                self.stats.silent += 1
            self._pending.append((self._n, item, delivery))
            self._n += 1
            self._drain()
            while len(self._pending) >= self.max_pending:
                if not self._wait_head(time.monotonic() + self.ack_timeout):
                    raise _Stalled
            if self.progress is not None:
                self.stats.errors = self.publisher.errors
                self.progress.update(self.stats, self._started)

    def _pace(self, due_s: float) -> None:
        delay = self._started + due_s - time.monotonic()
        if delay > 0.001:
            time.sleep(delay + self.linger_s)

    def _drain(self) -> None:
        """Write the manifest lines of the oldest publishes whose fate is known."""
        while self._pending:
            n, item, delivery = self._pending[0]
            if delivery is not None and not delivery.done:
                return
            self._pending.popleft()
            self._record(n, item, delivery)

    def _record(self, n: int, item: Outgoing, delivery: Delivery | None) -> None:
        acked = delivery is not None and delivery.acked
        if delivery is not None:
            if acked:
                self.stats.acked += 1
            else:
                self.stats.unacked += 1
        self.manifest.write_line(item.line(n, acked))

    def _wait_head(self, deadline: float) -> bool:
        """Wait (at most until ``deadline``) for the oldest publish, then record it regardless.

        Returns whether its fate was known in time.
        """
        _n, _item, delivery = self._pending[0]
        while delivery is not None and not delivery.done:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self.publisher.wait(delivery, min(left, 0.25))
            if self.progress is not None:
                self.stats.errors = self.publisher.errors
                self.progress.update(self.stats, self._started)
        n, item, delivery = self._pending.popleft()
        self._record(n, item, delivery)
        self._drain()
        return delivery is None or delivery.done

    def _finish(self) -> None:
        deadline = time.monotonic() + self.ack_timeout
        while self._pending:
            self._wait_head(deadline)

    def _give_up(self) -> None:
        """Record everything still pending as it stands (interrupted twice)."""
        while self._pending:
            n, item, delivery = self._pending.popleft()
            self._record(n, item, delivery)
