"""Capped exponential backoff with jitter, shared by the broker reconnect and the uplink.

The n-th delay is drawn uniformly from ``[d/2, d]`` with ``d = min(max_s, min_s * 2**n)``
("equal jitter"): never more than the cap, never a synchronised stampede of gateways.

>>> import random
>>> b = Backoff(1.0, 8.0, rng=random.Random(1))
>>> [0.5 <= b.next() <= 1.0, 1.0 <= b.next() <= 2.0, 2.0 <= b.next() <= 4.0]
[True, True, True]
>>> all(4.0 <= b.next() <= 8.0 for _ in range(10))
True
>>> b.reset(); b.next() <= 1.0
True
"""

from __future__ import annotations

import random


class Backoff:
    """Delays that double from ``min_s`` up to ``max_s``, with jitter."""

    def __init__(self, min_s: float, max_s: float, rng: random.Random | None = None) -> None:
        if min_s <= 0 or max_s < min_s:
            raise ValueError("need 0 < min_s <= max_s")
        self.min_s = min_s
        self.max_s = max_s
        self.attempt = 0
        self._rng = rng or random.Random()

    def peek(self) -> float:
        """The cap of the next delay, without consuming it."""
        return min(self.max_s, self.min_s * (2 ** min(self.attempt, 60)))

    def next(self) -> float:
        """The next delay in seconds."""
        cap = self.peek()
        self.attempt += 1
        return self._rng.uniform(cap / 2, cap)

    def reset(self) -> None:
        """Back to the shortest delay (after a success)."""
        self.attempt = 0
