"""A circuit breaker: stop hammering a cloud that keeps failing, probe it now and then.

Closed: requests flow. After ``failures`` consecutive failures it opens: nothing is sent for
``reset_s`` seconds. Then it is half-open: one probe goes out; success closes it, failure opens
it again.

>>> now = [0.0]
>>> b = CircuitBreaker(failures=2, reset_s=10, clock=lambda: now[0])
>>> b.record_failure(); b.allow()
True
>>> b.record_failure(); b.state, b.allow()
('open', False)
>>> now[0] = 10.0; b.allow(), b.state
(True, 'half_open')
>>> b.record_failure(); b.state
'open'
>>> now[0] = 20.0; b.allow(); b.record_success(); b.state
True
'closed'
"""

from __future__ import annotations

import time
from collections.abc import Callable

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
STATE_CODES = {CLOSED: 0, OPEN: 1, HALF_OPEN: 2}


class CircuitBreaker:
    """Consecutive-failure breaker with a timed half-open probe."""

    def __init__(self, failures: int, reset_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.threshold = failures
        self.reset_s = reset_s
        self._clock = clock
        self.state = CLOSED
        self.failures = 0
        self._opened_at = 0.0

    def allow(self) -> bool:
        """Whether a request may go out now (moves open → half-open when the time has come)."""
        if self.state == OPEN and self._clock() >= self._opened_at + self.reset_s:
            self.state = HALF_OPEN
        return self.state != OPEN

    def remaining(self) -> float:
        """Seconds until the next probe is allowed (0 when not open)."""
        if self.state != OPEN:
            return 0.0
        return max(0.0, self._opened_at + self.reset_s - self._clock())

    def record_success(self) -> None:
        self.state = CLOSED
        self.failures = 0

    def record_failure(self) -> None:
        self.failures += 1
        if self.state == HALF_OPEN or self.failures >= self.threshold:
            self.state = OPEN
            self._opened_at = self._clock()
