"""Rate-limited log lines: per-item lines for a burst, then one summary line per interval.

Anything on the network can publish bad payloads as fast as the broker takes them; a log line
per payload would let it fill the disk and drown every other line. The first ``burst`` lines
of an interval are written as they come; the rest are counted (by key) and summed up in one
line when the next interval starts.

>>> import logging
>>> lines = []
>>> class Keep(logging.Handler):
...     def emit(self, record): lines.append(record.getMessage())
>>> logger = logging.getLogger("ratelog-doctest"); logger.addHandler(Keep())
>>> logger.setLevel(logging.INFO); logger.propagate = False
>>> now = [0.0]
>>> rl = RateLimitedLog(logger, burst=2, interval_s=60, clock=lambda: now[0])
>>> for i in range(5):
...     rl.info("malformed", "bad payload %d", i)
>>> now[0] = 61.0
>>> rl.info("malformed", "bad payload %d", 5)
>>> lines
['bad payload 0', 'bad payload 1', '3 more lines suppressed in the last 60 s: malformed=3', \
'bad payload 5']
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable


class RateLimitedLog:
    """``info(key, msg, *args)``: logged while within the burst, counted by ``key`` after."""

    def __init__(self, logger: logging.Logger, burst: int, interval_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._log = logger
        self._burst = burst
        self._interval = interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._start = clock()
        self._written = 0
        self._suppressed: Counter[str] = Counter()

    def info(self, key: str, msg: str, *args: object) -> None:
        """Log ``msg % args`` at INFO unless this interval's burst is spent."""
        with self._lock:
            now = self._clock()
            if now - self._start >= self._interval:
                self._flush()
                self._start, self._written = now, 0
            if self._written >= self._burst:
                self._suppressed[key] += 1
                return
            self._written += 1
        self._log.info(msg, *args)

    def _flush(self) -> None:
        if not self._suppressed:
            return
        total = sum(self._suppressed.values())
        keys = ", ".join(f"{k}={n}" for k, n in sorted(self._suppressed.items()))
        self._log.info("%d more lines suppressed in the last %.0f s: %s", total,
                       self._interval, keys)
        self._suppressed.clear()
