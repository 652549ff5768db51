"""Prediction error of a River forecaster against a dynamic error threshold (River's PAD)."""

from __future__ import annotations

import math
from typing import Any, ClassVar

from gateway.detect.base import BaseDetector, clamp01


class PredictiveDetector(BaseDetector):
    """One-step-ahead SNARIMAX forecast; score = squared error / (mean + n_std * std of errors).

    The same rule as ``river.anomaly.PredictiveAnomalyDetection``, with the error statistics
    updated in :meth:`learn_one` so that scoring never changes the model.

    >>> det = PredictiveDetector(n_std=3.0)
    >>> for i in range(200):
    ...     _ = det.step(50.0 + (i % 4), i)
    >>> det.score_one(51.0, 200) < det.score_one(500.0, 200) == 1.0
    True
    """

    name: ClassVar[str] = "predictive"
    default_threshold: ClassVar[float] = 1.0
    state_version: ClassVar[int] = 1

    def __init__(self, p: int = 3, d: int = 1, n_std: float = 3.0, grace: int = 30) -> None:
        from river import linear_model, optim, preprocessing, stats, time_series

        self.model: Any = time_series.SNARIMAX(
            p=p,
            d=d,
            q=0,
            regressor=preprocessing.StandardScaler()
            | linear_model.LinearRegression(optimizer=optim.SGD(0.01), intercept_lr=0.01),
        )
        self.errors: Any = stats.Var()
        self.n_std = n_std
        self.grace = grace
        self.seen = 0

    def _forecast(self) -> float:
        if self.seen <= self.model.p + self.model.d:
            return math.nan
        y = float(self.model.forecast(horizon=1)[0])
        return y if math.isfinite(y) else math.nan

    def _limit(self) -> float:
        return self.errors.mean.get() + self.n_std * math.sqrt(max(self.errors.get(), 0.0))

    def score_one(self, value: float, ts_ms: int) -> float:
        """Squared one-step error relative to the dynamic limit, capped at 1."""
        if self.seen < self.grace:
            return 0.0
        pred = self._forecast()
        if math.isnan(pred):
            return 0.0
        limit = self._limit()
        if limit <= 0.0:
            return 0.0 if (value - pred) ** 2 == 0.0 else 1.0
        return clamp01((value - pred) ** 2 / limit)

    def learn_one(self, value: float, ts_ms: int) -> None:
        """Update the error statistics, then the forecaster."""
        pred = self._forecast()
        if not math.isnan(pred):
            self.errors.update((value - pred) ** 2)
        self.model.learn_one(y=value)
        self.seen += 1

    def expected_range(self) -> tuple[float, float] | None:
        """Forecast ± the error the limit allows."""
        pred = self._forecast()
        if math.isnan(pred) or self.seen < self.grace:
            return None
        half = math.sqrt(max(self._limit(), 0.0))
        return (pred - half, pred + half)
