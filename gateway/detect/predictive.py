"""Prediction error of a River forecaster against a dynamic error threshold (River's PAD)."""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

from gateway.detect.base import BaseDetector
from gateway.detect.likelihood import AnomalyLikelihood


class PredictiveDetector(BaseDetector):
    """One-step-ahead SNARIMAX forecast; score = squared error / (mean + n_std * std of errors).

    The same rule as ``river.anomaly.PredictiveAnomalyDetection``, with the error statistics
    updated in :meth:`learn_value` so that scoring never changes the model. That ratio is then
    calibrated against its own history (:class:`~gateway.detect.likelihood.AnomalyLikelihood`,
    no averaging): on real series the forecaster's errors are heavy-tailed and a raw ratio of 1
    is common, so 0.5 means a ratio this high has a tail probability of 1e-5 for this stream.

    >>> det = PredictiveDetector(n_std=3.0)
    >>> for i in range(200):
    ...     det.learn_one({"value": 50.0 + (i % 4)})
    >>> det.score_one({"value": 51.0}) < 0.5 < det.score_one({"value": 500.0})
    True
    """

    name: ClassVar[str] = "predictive"
    default_threshold: ClassVar[float] = 0.5
    state_version: ClassVar[int] = 2
    #: Flagged readings are learned winsorised (see ``BaseDetector.winsorised``).
    learn_flagged: ClassVar[Literal["skip", "clip"]] = "clip"
    #: One incident, one alarm: sentinel's refractory period and damping (its CV choice).
    alarm_refractory: ClassVar[int] = 30
    alarm_damp: ClassVar[float] = 0.3

    def __init__(self, p: int = 3, d: int = 1, n_std: float = 3.0, grace: int = 30) -> None:
        from river import linear_model, optim, preprocessing, stats, time_series

        self.model: Any = time_series.SNARIMAX(
            p=p,
            d=d,
            q=0,
            regressor=preprocessing.StandardScaler()
            | linear_model.LinearRegression(optimizer=optim.SGD(0.01), intercept_lr=0.01),
        )
        self.p = p
        self.d = d
        self.errors: Any = stats.Var()
        self.n_std = n_std
        self.grace = grace
        self.seen = 0
        self.calibration = AnomalyLikelihood(history=1000, average=1, min_fit=100)

    def _forecast(self) -> float:
        if self.seen <= self.model.p + self.model.d:
            return math.nan
        y = float(self.model.forecast(horizon=1)[0])
        return y if math.isfinite(y) else math.nan

    def _limit(self) -> float:
        return self.errors.mean.get() + self.n_std * math.sqrt(max(self.errors.get(), 0.0))

    def score_value(self, value: float, ts_ms: int) -> float:
        """The calibrated tail probability of the raw ratio (log-scaled, in [0, 1])."""
        return self.calibration.score(self._ratio(value))

    def _ratio(self, value: float) -> float:
        """``log1p`` of the squared one-step error relative to the dynamic limit: unbounded (a
        huge error must stay far out in the calibrated tail), compressed (errors are heavy-tailed).
        """
        if self.seen < self.grace:
            return 0.0
        pred = self._forecast()
        if math.isnan(pred):
            return 0.0
        limit = self._limit()
        if limit <= 0.0:
            return 0.0 if (value - pred) ** 2 == 0.0 else 10.0
        return math.log1p((value - pred) ** 2 / limit)

    def learn_value(self, value: float, ts_ms: int) -> None:
        """Update the error statistics, then the forecaster."""
        self._learn(value, value)

    def learn_edge(self, edge: float, ts_ms: int) -> None:
        """A flagged reading, winsorised: the error statistics and the calibration learn the
        edge's error (so their spread cannot collapse), the forecaster its own forecast. An
        SGD forecaster fed a burst walks after it and diverges (measured: 40 readings at 4-12
        times the level sent SNARIMAX's forecast to 1e12, learning them raw or winsorised),
        and a flagged reading says nothing about the dynamics it fits; the forecast keeps its
        lags in step with time. A lasting shift is still relearned raw (``relearned``)."""
        pred = self._forecast()
        self._learn(edge, edge if math.isnan(pred) else pred)

    def _learn(self, value: float, target: float) -> None:
        if self.seen >= self.grace:
            self.calibration.learn(self._ratio(value))
        pred = self._forecast()
        if not math.isnan(pred):
            self.errors.update((value - pred) ** 2)
        self.model.learn_one(y=target)
        self.seen += 1

    def expected_range(self) -> tuple[float, float] | None:
        """Forecast ± the error the limit allows."""
        pred = self._forecast()
        if math.isnan(pred) or self.seen < self.grace:
            return None
        half = math.sqrt(max(self._limit(), 0.0))
        return (pred - half, pred + half)
