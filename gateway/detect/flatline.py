"""Data-quality rule: a stuck sensor repeats the same value far longer than it ever did."""

from __future__ import annotations

from typing import ClassVar

from gateway.detect.base import BaseDetector, clamp01


class FlatlineDetector(BaseDetector):
    """Flags a run of identical readings longer than ``factor`` x the longest run learned so far.

    A stream that has always been constant (a closed door, a flat test signal) is never
    flagged: only a stream that used to move and then stops. The score grows with the run
    and reaches 0.5 (the threshold) at ``max(min_run, factor * longest normal run)``.

    >>> det = FlatlineDetector(min_run=10)
    >>> for i in range(100):
    ...     _ = det.step(float(i % 3), i)
    >>> scores = [det.step(7.0, 100 + i) for i in range(30)]
    >>> scores[3] < 0.5 <= scores[-1]
    True
    """

    name: ClassVar[str] = "flatline"
    default_threshold: ClassVar[float] = 0.5
    state_version: ClassVar[int] = 2

    def __init__(self, min_run: int = 20, factor: float = 3.0, tolerance: float = 0.0) -> None:
        self.min_run = min_run
        self.factor = factor
        self.tolerance = tolerance
        self.last: float | None = None
        self.run = 0
        self.longest = 1
        self.changes = 0

    def _run_with(self, value: float) -> int:
        if self.last is not None and abs(value - self.last) <= self.tolerance:
            return self.run + 1
        return 1

    def limit(self) -> float:
        """The run length at which a repeat is flagged."""
        return max(float(self.min_run), self.factor * self.longest)

    def score_value(self, value: float, ts_ms: int) -> float:
        """``run / (2 * limit)``, 0 while the stream has never moved."""
        if self.changes < 2:
            return 0.0
        return clamp01(self._run_with(value) / (2.0 * self.limit()))

    def learn_value(self, value: float, ts_ms: int) -> None:
        """Track the current run and the longest one seen."""
        run = self._run_with(value)
        if run == 1 and self.last is not None:
            # A run ends: only completed runs count as normal, or a stuck run would excuse itself.
            self.changes += 1
            self.longest = max(self.longest, self.run)
        self.run = run
        self.last = value
