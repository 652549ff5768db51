"""Anomaly likelihood (Ahmad et al. 2017): how unusual a burst of raw scores is for this stream.

Not a detector itself: a post-processor that turns a stream of raw scores in [0, 1] into a
log-scaled tail probability, used by :class:`~gateway.detect.sentinel.SentinelDetector`.
"""

from __future__ import annotations

import math
from array import array

from gateway.detect.slots import restore

_LOG_FLOOR = math.log(1e-10)


class AnomalyLikelihood:
    """Short moving average of raw scores against a normal fitted to their recent history.

    >>> lik = AnomalyLikelihood(history=200, average=5, reestimate=50, min_fit=50)
    >>> for i in range(400):
    ...     lik.learn(0.1 if i % 10 else 0.3)
    >>> lik.score(0.1) < 0.5 < lik.score(1.0, burst=1.0)
    True
    """

    # Two per sentinel stream: slots, not a per-instance dict (decision 74).
    __slots__ = ("average", "avgs", "fitted", "history", "mean", "min_fit", "n", "pos",
                 "recent", "reestimate", "std")

    def __init__(
        self, history: int = 1000, average: int = 10, reestimate: int = 100, min_fit: int = 100
    ) -> None:
        self.history = history
        self.min_fit = min_fit
        self.average = average
        self.reestimate = reestimate
        self.recent = array("d")  # the last ``average`` raw scores
        self.avgs = array("f")  # ring buffer of moving averages (float32: half the bytes)
        self.pos = 0
        self.n = 0
        self.mean = 0.0
        self.std = 1.0
        self.fitted = False

    def __setstate__(self, state: object) -> None:
        restore(self, state)  # also state saved before the slots

    def score(self, raw: float, burst: float | None = None) -> float:
        """Log-scaled likelihood in [0, 1] of ``raw`` arriving now (0 until the first fit).

        ``burst`` replaces the moving average (e.g. to score a single reading on its own).
        """
        if not self.fitted:
            return 0.0
        if burst is None:
            tail = self.recent[len(self.recent) - self.average + 1 :] if self.average > 1 else []
            burst = (sum(tail) + raw) / (len(tail) + 1)
        z = (burst - self.mean) / self.std
        tail_p = 0.5 * math.erfc(z / math.sqrt(2.0))
        return min(1.0, math.log(max(tail_p, 1e-10)) / _LOG_FLOOR)

    def learn(self, raw: float) -> None:
        """Add a raw score to the history; refit every ``reestimate`` readings."""
        self.recent.append(raw)
        if len(self.recent) > self.average:
            del self.recent[0]
        avg = sum(self.recent) / len(self.recent)
        if len(self.avgs) < self.history:
            self.avgs.append(avg)
        else:
            self.avgs[self.pos] = avg
            self.pos = (self.pos + 1) % self.history
        self.n += 1
        if len(self.avgs) >= self.min_fit and self.n % self.reestimate == 0:
            self._fit()

    def _fit(self) -> None:
        k = len(self.avgs)
        mean = sum(self.avgs) / k
        var = sum((a - mean) ** 2 for a in self.avgs) / k
        # Floors as in Numenta's implementation: a perfectly quiet history must not make
        # every small wobble look impossible.
        self.mean = max(mean, 0.03)
        self.std = math.sqrt(max(var, 0.0003))
        self.fitted = True
