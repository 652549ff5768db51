"""Data-quality rule: a reading outside the sensor's physical range."""

from __future__ import annotations

import math
from typing import ClassVar

from gateway.detect.base import BaseDetector


class RangeDetector(BaseDetector):
    """Score 1 outside ``[low, high]`` (inclusive) or for a non-finite value, else 0.

    >>> det = RangeDetector(low=-40.0, high=85.0)
    >>> [det.score_one({"value": v}) for v in (21.5, -273.0, float("nan"))]
    [0.0, 1.0, 1.0]
    """

    name: ClassVar[str] = "range"
    default_threshold: ClassVar[float] = 0.5
    state_version: ClassVar[int] = 2

    def __init__(self, low: float = -math.inf, high: float = math.inf) -> None:
        if low > high:
            raise ValueError(f"range: low {low} is above high {high}")
        self.low = low
        self.high = high

    def score_value(self, value: float, ts_ms: int) -> float:
        """1.0 outside the range."""
        return 0.0 if self.low <= value <= self.high else 1.0

    def learn_value(self, value: float, ts_ms: int) -> None:
        """Nothing to learn: the range is a property of the sensor."""

    def expected_range(self) -> tuple[float, float] | None:
        """The physical range, when it is bounded."""
        if math.isinf(self.low) and math.isinf(self.high):
            return None
        return (self.low, self.high)
