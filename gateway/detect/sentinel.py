"""Sentinel: our own detector, built to the NAB benchmark's measurements (see docs/decisions.md).

Three cheap parts, pure Python floats and a bounded ring buffer, no per-reading numpy:

1. **Spatial novelty**: a value more than ``tolerance`` x the seen range beyond the lowest or
   highest value seen so far scores 1.0 (the "spatial anomaly" of Numenta's NAB detector).
2. **Sequence surprise** (the raw score): values are quantised into bins ``resolution`` wide
   (fixed from the spread of the first readings); the model counts transitions from the
   previous bin to the next. The raw score is how unexpected the new bin is after the previous
   one: 1.0 for a never-seen transition, near 0 for a habitual one.
3. **Anomaly likelihood** (Ahmad et al. 2017): the short moving average of raw scores is compared
   with a normal fitted to the recent history of such averages; the score is the log-scaled tail
   probability, so a burst of surprise in a usually predictable stream scores high, while a
   stream that is always surprising does not.
"""

from __future__ import annotations

import math
from array import array
from typing import ClassVar

from gateway.detect.base import BaseDetector

_LOG_FLOOR = math.log(1e-10)


class SentinelDetector(BaseDetector):
    """Spatial novelty + sequence surprise + anomaly likelihood.

    >>> det = SentinelDetector()
    >>> for i in range(2000):
    ...     _ = det.step(float(i % 24), i * 60_000)
    >>> det.score_one(5.0, 2000 * 60_000) < det.default_threshold <= det.score_one(80.0, 0)
    True
    """

    name: ClassVar[str] = "sentinel"
    default_threshold: ClassVar[float] = 0.5
    state_version: ClassVar[int] = 1

    def __init__(
        self,
        tolerance: float = 0.05,
        bins: int = 20,
        calibrate: int = 150,
        history: int = 1000,
        average: int = 10,
        reestimate: int = 100,
        max_transitions: int = 600,
    ) -> None:
        self.tolerance = tolerance
        self.bins = bins
        self.calibrate = calibrate
        self.history = history
        self.average = average
        self.reestimate = reestimate
        self.max_transitions = max_transitions
        self.n = 0
        self.low = math.inf
        self.high = -math.inf
        self.origin = 0.0
        self.resolution = 0.0
        self.prev_bin: int | None = None
        self.counts: dict[tuple[int, int], float] = {}
        self.totals: dict[int, float] = {}
        self.raw = array("d")  # last ``average`` raw scores
        self.avgs = array("d")  # ring of moving averages for the fit
        self.ring_pos = 0
        self.mean = 0.0
        self.std = 1.0
        self.fitted = False

    # -- parts ----------------------------------------------------------------------------------
    def _spatial(self, value: float) -> bool:
        if self.n < 2 or self.high <= self.low:
            return False
        margin = (self.high - self.low) * self.tolerance
        return value > self.high + margin or value < self.low - margin

    def _bin(self, value: float) -> int | None:
        if self.resolution <= 0.0:
            return None
        return math.floor((value - self.origin) / self.resolution)

    def _surprise(self, value: float) -> float:
        b = self._bin(value)
        if b is None or self.prev_bin is None:
            return 0.0
        total = self.totals.get(self.prev_bin, 0.0)
        if total <= 0.0:
            return 1.0
        return 1.0 - self.counts.get((self.prev_bin, b), 0.0) / total

    def _likelihood_score(self, raw: float) -> float:
        if not self.fitted:
            return 0.0
        recent = self.raw[-(self.average - 1) :] if self.average > 1 else array("d")
        avg = (sum(recent) + raw) / (len(recent) + 1)
        z = (avg - self.mean) / self.std
        tail = 0.5 * math.erfc(z / math.sqrt(2.0))
        return min(1.0, math.log(max(tail, 1e-10)) / _LOG_FLOOR)

    # -- the role -------------------------------------------------------------------------------
    def score_one(self, value: float, ts_ms: int) -> float:
        """1.0 for a value outside the seen range, else the log-likelihood score."""
        if self._spatial(value):
            return 1.0
        return self._likelihood_score(self._surprise(value))

    def learn_one(self, value: float, ts_ms: int) -> None:
        """Update range, transition counts, raw-score history and (now and then) the fit."""
        raw = self._surprise(value)
        self.n += 1
        self.low = min(self.low, value)
        self.high = max(self.high, value)
        if self.n == self.calibrate and self.high > self.low:
            self.origin = self.low
            self.resolution = (self.high - self.low) / self.bins
        b = self._bin(value)
        if b is not None and self.prev_bin is not None:
            self._count(self.prev_bin, b)
        self.prev_bin = b
        if b is None:
            return
        self.raw.append(raw)
        if len(self.raw) > self.average:
            del self.raw[0]
        self._remember(sum(self.raw) / len(self.raw))

    def skip_one(self, value: float, ts_ms: int) -> None:
        """A flagged reading: the next transition starts from it, nothing else is learned."""
        self.prev_bin = self._bin(value)
        self.low = min(self.low, value)
        self.high = max(self.high, value)

    def _count(self, a: int, b: int) -> None:
        key = (a, b)
        if key not in self.counts and len(self.counts) >= self.max_transitions:
            self._decay()
        self.counts[key] = self.counts.get(key, 0.0) + 1.0
        self.totals[a] = self.totals.get(a, 0.0) + 1.0

    def _decay(self) -> None:
        """Halve every count and forget those that fall below one: a bounded memory."""
        self.counts = {k: c / 2 for k, c in self.counts.items() if c >= 2.0}
        totals: dict[int, float] = {}
        for (a, _), c in self.counts.items():
            totals[a] = totals.get(a, 0.0) + c
        self.totals = totals

    def _remember(self, avg: float) -> None:
        if len(self.avgs) < self.history:
            self.avgs.append(avg)
        else:
            self.avgs[self.ring_pos] = avg
            self.ring_pos = (self.ring_pos + 1) % self.history
        if len(self.avgs) >= self.reestimate and self.n % self.reestimate == 0:
            self._fit()

    def _fit(self) -> None:
        k = len(self.avgs)
        mean = sum(self.avgs) / k
        var = sum((a - mean) ** 2 for a in self.avgs) / k
        self.mean = max(mean, 0.03)
        self.std = math.sqrt(max(var, 0.0003))
        self.fitted = True

    def expected_range(self) -> tuple[float, float] | None:
        """The seen range widened by the tolerance."""
        if self.n < 2:
            return None
        margin = (self.high - self.low) * self.tolerance
        return (self.low - margin, self.high + margin)
