"""When to try again: capped exponential backoff with jitter, or the server's ``Retry-After``.

One rule for every retry loop (the gateway's broker reconnect and uplink, the cloud's webhook
deliveries): after ``n`` failures the delay is drawn uniformly from ``[d/2, d]`` with
``d = min(max_s, min_s * 2**(n-1))`` ("equal jitter"): never above the cap, never below half of
it (so retries do not hammer), and never a synchronised stampede of clients. A ``Retry-After``
the server sent wins, capped at ``retry_after_max_s``.

>>> import random
>>> b = Backoff(1.0, 8.0, rng=random.Random(1))
>>> [0.5 <= b.next() <= 1.0, 1.0 <= b.next() <= 2.0, 2.0 <= b.next() <= 4.0]
[True, True, True]
>>> all(4.0 <= b.next() <= 8.0 for _ in range(10))
True
>>> b.reset(); b.next() <= 1.0
True
>>> b = Backoff(1.0, 8.0, retry_after_max_s=30.0)
>>> b.next(retry_after=7.0), b.next(retry_after=3600.0), b.failures
(7.0, 30.0, 2)
>>> 2.0 <= b.delay(3) <= 4.0
True
>>> parse_retry_after("12"), parse_retry_after("soon"), parse_retry_after(None)
(12.0, None, None)
>>> parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now_s=1445412480)
0.0
"""

from __future__ import annotations

import email.utils
import random
import time


class Backoff:
    """Delays that double from ``min_s`` up to ``max_s``, with jitter; ``Retry-After`` wins.

    Use it stateless (:meth:`delay` with the number of failures so far, e.g. kept in a
    database row) or stateful (:meth:`next` after each failure, :meth:`reset` after a success).
    """

    def __init__(self, min_s: float, max_s: float, retry_after_max_s: float | None = None,
                 rng: random.Random | None = None) -> None:
        if min_s <= 0 or max_s < min_s:
            raise ValueError("need 0 < min_s <= max_s")
        self.min_s = min_s
        self.max_s = max_s
        self.retry_after_max_s = max_s if retry_after_max_s is None else retry_after_max_s
        #: Failures since the last :meth:`reset` (stateful use).
        self.failures = 0
        self._rng = rng or random.Random()

    def cap(self, failures: int) -> float:
        """The largest delay after ``failures`` failures (at least 1)."""
        return min(self.max_s, self.min_s * (2 ** min(max(failures, 1) - 1, 60)))

    def delay(self, failures: int, retry_after: float | None = None) -> float:
        """Seconds to wait after ``failures`` failures: ``retry_after`` (capped) when given."""
        if retry_after is not None:
            return float(min(max(retry_after, 0.0), self.retry_after_max_s))
        cap = self.cap(failures)
        return self._rng.uniform(cap / 2, cap)

    def next(self, retry_after: float | None = None) -> float:
        """Count one more failure and return the delay before the next attempt."""
        self.failures += 1
        return self.delay(self.failures, retry_after)

    def reset(self) -> None:
        """Back to the shortest delay (after a success)."""
        self.failures = 0


def parse_retry_after(value: str | None, now_s: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` value (delta-seconds or an HTTP date); None if absent or
    unreadable. ``now_s`` (Unix seconds) is the clock an HTTP date is measured against."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now_s is None else now_s))
