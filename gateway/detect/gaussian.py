"""River's GaussianScorer: the two-sided tail mass of a (windowed) normal fit."""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

from gateway.detect.base import BaseDetector, clamp01


class GaussianDetector(BaseDetector):
    """A windowed Gaussian: score ``2 * |cdf(x) - 0.5|`` (NAB's "Windowed Gaussian" baseline).

    >>> det = GaussianDetector(window_size=200, grace_period=20)
    >>> for i in range(200):
    ...     det.learn_one({"value": 10.0 + (i % 5)})
    >>> det.score_one({"value": 12.0}) < 0.9 < det.score_one({"value": 40.0})
    True
    """

    name: ClassVar[str] = "gaussian"
    default_threshold: ClassVar[float] = 0.9999
    state_version: ClassVar[int] = 2
    #: Flagged readings are learned winsorised (see ``BaseDetector.winsorised``).
    learn_flagged: ClassVar[Literal["skip", "clip"]] = "clip"
    #: One incident, one alarm: sentinel's refractory period and damping (its CV choice).
    alarm_refractory: ClassVar[int] = 30
    alarm_damp: ClassVar[float] = 0.3

    def __init__(self, window_size: int = 1000, grace_period: int = 100) -> None:
        from river import anomaly

        self.model: Any = anomaly.GaussianScorer(window_size=window_size, grace_period=grace_period)
        self.window_size = window_size
        self.grace_period = grace_period

    def score_value(self, value: float, ts_ms: int) -> float:
        """Tail mass of ``value`` under the fitted normal (River's formula, guarded)."""
        if self.model.gaussian.n_samples < self.model.grace_period:
            return 0.0
        mu, sigma = self._fit()
        if sigma <= 0.0:
            return 0.0 if value == mu else 1.0
        return clamp01(math.erf(abs(value - mu) / (sigma * math.sqrt(2.0))))

    def _fit(self) -> tuple[float, float]:
        """Mean and standard deviation; a rolling variance can dip below 0 by rounding."""
        g = self.model.gaussian
        sigma = g.sigma
        if isinstance(sigma, complex) or not math.isfinite(sigma):
            sigma = 0.0
        return float(g.mu), float(sigma)

    def learn_value(self, value: float, ts_ms: int) -> None:
        """Add ``value`` to the window."""
        self.model.learn_one(None, value)

    def expected_range(self) -> tuple[float, float] | None:
        """Mean ± 4 standard deviations."""
        g = self.model.gaussian
        if g.n_samples < 2:
            return None
        mu, sigma = self._fit()
        return (mu - 4 * sigma, mu + 4 * sigma)
