"""Time as the alerting services see it: UTC milliseconds, injectable so tests drive it."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """A source of the current time in UTC milliseconds since the epoch."""

    def now_ms(self) -> int:
        """The current time."""
        ...


class SystemClock:
    """The wall clock."""

    def now_ms(self) -> int:
        """The current wall-clock time in UTC milliseconds."""
        return time.time_ns() // 1_000_000


class ManualClock:
    """A clock that moves only when told to (tests and benchmarks).

    >>> clock = ManualClock(1_000)
    >>> clock.advance(seconds=2.5)
    >>> clock.now_ms()
    3500
    """

    def __init__(self, start_ms: int) -> None:
        self._now = start_ms

    def now_ms(self) -> int:
        """The time the clock was last set to."""
        return self._now

    def set(self, now_ms: int) -> None:
        """Jump to ``now_ms``."""
        self._now = now_ms

    def advance(self, seconds: float) -> None:
        """Move forward by ``seconds``."""
        self._now += round(seconds * 1000)
