"""River's StandardAbsoluteDeviation: |x - mean| / std, squashed into [0, 1]."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from gateway.detect.base import BaseDetector, squash


class StandardAbsoluteDeviationDetector(BaseDetector):
    """A z-score against running mean and variance, mapped to ``z / (z + 4)``.

    A threshold of 0.6 means ``|z| >= 6``.

    >>> det = StandardAbsoluteDeviationDetector()
    >>> for i in range(100):
    ...     det.learn_one({"value": float(i % 10)})
    >>> det.score_one({"value": 4.5}) < 0.6 <= det.score_one({"value": 100.0})
    True
    """

    name: ClassVar[str] = "sad"
    default_threshold: ClassVar[float] = 0.6
    state_version: ClassVar[int] = 2
    #: Flagged readings are learned winsorised (see ``BaseDetector.winsorised``).
    learn_flagged: ClassVar[Literal["skip", "clip"]] = "clip"
    #: One incident, one alarm: sentinel's refractory period and damping (its CV choice).
    alarm_refractory: ClassVar[int] = 30
    alarm_damp: ClassVar[float] = 0.3

    def __init__(self, scale: float = 4.0) -> None:
        from river import anomaly

        self.model: Any = anomaly.StandardAbsoluteDeviation()
        self.scale = scale

    def score_value(self, value: float, ts_ms: int) -> float:
        """Squashed absolute z-score."""
        if self.model.variance.n < 2:
            return 0.0
        return squash(float(self.model.score_one(None, value)), self.scale)

    def learn_value(self, value: float, ts_ms: int) -> None:
        """Update running mean and variance."""
        self.model.learn_one(None, value)

    def expected_range(self) -> tuple[float, float] | None:
        """Mean ± the |z| the default threshold stands for."""
        if self.model.variance.n < 2:
            return None
        mu = self.model.sub_stat.get()
        sd = self.model.variance.get() ** 0.5
        z = self.scale * self.default_threshold / (1 - self.default_threshold)
        return (mu - z * sd, mu + z * sd)
