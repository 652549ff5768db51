"""River's Half-Space Trees over a min-max scaled value and its first difference, calibrated."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from gateway.detect.base import BaseDetector, clamp01
from gateway.detect.likelihood import AnomalyLikelihood


class HalfSpaceTreesDetector(BaseDetector):
    """Half-Space Trees (Tan et al. 2011) on ``[value, delta]`` scaled online to [0, 1].

    River's trees need features in [0, 1]; a running min-max scaler provides them. HST's raw
    score is not a probability (on plain noise it often exceeds 0.85), so it is calibrated
    against its own history (:class:`~gateway.detect.likelihood.AnomalyLikelihood` of the raw
    score, no averaging): 0.5 means a raw score this high has a tail probability of 1e-5.

    >>> import random
    >>> rng = random.Random(0)
    >>> det = HalfSpaceTreesDetector(seed=1)
    >>> for i in range(1000):
    ...     det.learn_one({"value": rng.gauss(20.0, 1.0), "t": i * 1000})
    >>> det.score_one({"value": 20.0}) < det.score_one({"value": 30.0})
    True
    """

    name: ClassVar[str] = "hst"
    default_threshold: ClassVar[float] = 0.5
    state_version: ClassVar[int] = 2
    #: Flagged readings are learned winsorised (see ``BaseDetector.winsorised``).
    learn_flagged: ClassVar[Literal["skip", "clip"]] = "clip"
    #: One incident, one alarm: sentinel's refractory period and damping (its CV choice).
    alarm_refractory: ClassVar[int] = 30
    alarm_damp: ClassVar[float] = 0.3

    def __init__(
        self, n_trees: int = 10, height: int = 6, window_size: int = 100, seed: int = 42
    ) -> None:
        from river import anomaly, preprocessing

        self.n_trees = n_trees
        self.height = height
        self.window_size = window_size
        self.seed = seed
        self.model: Any = preprocessing.MinMaxScaler() | anomaly.HalfSpaceTrees(
            n_trees=n_trees, height=height, window_size=window_size, seed=seed
        )
        self.last: float | None = None
        self.calibration = AnomalyLikelihood(history=1000, average=1, min_fit=100)

    def _features(self, value: float) -> dict[str, float]:
        delta = 0.0 if self.last is None else value - self.last
        return {"x": value, "dx": delta}

    def _raw(self, value: float) -> float:
        return clamp01(float(self.model.score_one(self._features(value))))

    def score_value(self, value: float, ts_ms: int) -> float:
        """The calibrated tail probability of HST's raw score (log-scaled, in [0, 1])."""
        return self.calibration.score(self._raw(value))

    def learn_value(self, value: float, ts_ms: int) -> None:
        """Update the calibration, the scaler and the trees."""
        if not self.model[-1]._first_window:  # raw scores are all 0 until the trees have mass
            self.calibration.learn(self._raw(value))
        self.model.learn_one(self._features(value))
        self.last = value

    def expected_range(self) -> tuple[float, float] | None:
        """The range of values seen so far (the scaler's), None before the first."""
        scaler = self.model[0]
        low, high = scaler.min.get("x"), scaler.max.get("x")
        if low is None or high is None:
            return None
        return (float(low.get()), float(high.get()))
