"""When to try a failed batch again: the server's ``Retry-After`` when it gave one, else backoff.

>>> import random
>>> p = RetryPolicy(min_s=1, max_s=4, retry_after_max_s=30, rng=random.Random(0))
>>> p.delay(retry_after=7.0)
7.0
>>> p.delay(retry_after=3600.0)
30.0
>>> p.reset(); 0.5 <= p.delay() <= 1.0 and 1.0 <= p.delay() <= 2.0
True
>>> parse_retry_after("12"), parse_retry_after("soon")
(12.0, None)
"""

from __future__ import annotations

import email.utils
import random
import time

from gateway.backoff import Backoff


class RetryPolicy:
    """Delays between attempts of the same batch."""

    def __init__(self, min_s: float, max_s: float, retry_after_max_s: float,
                 rng: random.Random | None = None) -> None:
        self._backoff = Backoff(min_s, max_s, rng)
        self.retry_after_max_s = retry_after_max_s

    def delay(self, retry_after: float | None = None) -> float:
        """Seconds to wait: ``Retry-After`` (capped) when given, else the next backoff step."""
        if retry_after is not None:
            self._backoff.attempt += 1
            return float(min(max(retry_after, 0.0), self.retry_after_max_s))
        return self._backoff.next()

    def reset(self) -> None:
        self._backoff.reset()


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date); None if absent."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
