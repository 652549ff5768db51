"""Data-quality rule: an impossible jump between consecutive readings."""

from __future__ import annotations

import math
from typing import ClassVar

from gateway.detect.base import BaseDetector, squash


class JumpDetector(BaseDetector):
    """Flags a step far larger than the stream's typical step.

    With ``max_rate`` (units per second) the rule is absolute: a step faster than that scores 1.
    Otherwise the typical step is an exponentially weighted mean of ``|delta|`` and the score is
    ``r / (r + factor)`` for ``r = |delta| / typical``, so the threshold 0.5 means a step
    ``factor`` times the typical one.

    >>> det = JumpDetector(factor=10.0)
    >>> for i in range(100):
    ...     det.learn_one({"value": 20.0 + (i % 2) * 0.5, "t": i * 1000})
    >>> det.score_one({"value": 20.5, "t": 100_000}) < 0.5 <= det.score_one({"value": 40.0})
    True
    """

    name: ClassVar[str] = "jump"
    default_threshold: ClassVar[float] = 0.5
    state_version: ClassVar[int] = 2

    def __init__(
        self, factor: float = 10.0, alpha: float = 0.02, max_rate: float | None = None
    ) -> None:
        self.factor = factor
        self.alpha = alpha
        self.max_rate = max_rate
        self.last: float | None = None
        self.last_ts: int | None = None
        self.typical = 0.0
        self.n = 0

    def score_value(self, value: float, ts_ms: int) -> float:
        """How impossible the step from the previous reading is."""
        if self.last is None:
            return 0.0
        delta = abs(value - self.last)
        if self.max_rate is not None and self.last_ts is not None:
            dt = max((ts_ms - self.last_ts) / 1000.0, 1e-3)
            return 1.0 if delta / dt > self.max_rate else 0.0
        if self.n < 10:
            return 0.0
        if self.typical <= 0.0:
            return 0.0 if delta == 0.0 else 1.0
        return squash(delta / self.typical, self.factor)

    def learn_value(self, value: float, ts_ms: int) -> None:
        """Update the typical step."""
        if self.last is not None and math.isfinite(value):
            delta = abs(value - self.last)
            step = delta - self.typical
            self.typical = delta if self.n == 0 else self.typical + self.alpha * step
            self.n += 1
        self.last = value
        self.last_ts = ts_ms

    def expected_range(self) -> tuple[float, float] | None:
        """The previous reading ± ``factor`` typical steps."""
        if self.last is None or self.n < 10:
            return None
        half = self.factor * self.typical
        return (self.last - half, self.last + half)
