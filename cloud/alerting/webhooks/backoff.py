"""When to try a failed delivery again: exponential backoff with full jitter, or Retry-After.

>>> import random
>>> policy = Backoff(base_s=5, max_s=3600, retry_after_max_s=7200, rng=random.Random(1))
>>> all(0 < policy.delay_s(n) <= min(3600, 5 * 2 ** n) for n in range(12))
True
>>> policy.delay_s(3, retry_after="120")
120.0
>>> policy.delay_s(3, retry_after="Wed, 21 Oct 2015 07:28:00 GMT", now_s=1445412480)
0.0
"""

from __future__ import annotations

import random
from email.utils import parsedate_to_datetime


class Backoff:
    """Delay before attempt ``n + 1`` after ``n`` failed attempts."""

    def __init__(
        self, base_s: float, max_s: float, retry_after_max_s: float,
        rng: random.Random | None = None,
    ) -> None:
        self._base = base_s
        self._max = max_s
        self._retry_after_max = retry_after_max_s
        self._rng = rng or random.Random()

    def delay_s(self, attempts: int, retry_after: str | None = None, now_s: float = 0) -> float:
        """Seconds to wait; ``retry_after`` (a 429/503 header) wins when it parses."""
        if retry_after is not None:
            asked = parse_retry_after(retry_after, now_s)
            if asked is not None:
                return min(asked, self._retry_after_max)
        ceiling = min(self._max, self._base * 2 ** max(0, attempts - 1))
        # Full jitter, but never less than half the base, so retries do not hammer.
        return max(self._base / 2, self._rng.uniform(0, ceiling))


def parse_retry_after(value: str, now_s: float) -> float | None:
    """Seconds from a ``Retry-After`` value (delta seconds or an HTTP date), or None."""
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now_s)
