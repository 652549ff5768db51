"""River's Half-Space Trees over a min-max scaled value and its first difference."""

from __future__ import annotations

from typing import Any, ClassVar

from gateway.detect.base import BaseDetector, clamp01


class HalfSpaceTreesDetector(BaseDetector):
    """Half-Space Trees (Tan et al. 2011) on ``[value, delta]`` scaled online to [0, 1].

    River's trees need features in [0, 1]; a running min-max scaler provides them.

    >>> import random
    >>> rng = random.Random(0)
    >>> det = HalfSpaceTreesDetector(seed=1)
    >>> for i in range(1000):
    ...     _ = det.step(rng.gauss(20.0, 1.0), i * 1000)
    >>> det.score_one(20.0, 1_000_000) < det.score_one(30.0, 1_000_000)
    True
    """

    name: ClassVar[str] = "hst"
    default_threshold: ClassVar[float] = 0.85
    state_version: ClassVar[int] = 1

    def __init__(
        self, n_trees: int = 10, height: int = 6, window_size: int = 100, seed: int = 42
    ) -> None:
        from river import anomaly, preprocessing

        self.model: Any = preprocessing.MinMaxScaler() | anomaly.HalfSpaceTrees(
            n_trees=n_trees, height=height, window_size=window_size, seed=seed
        )
        self.last: float | None = None

    def _features(self, value: float) -> dict[str, float]:
        delta = 0.0 if self.last is None else value - self.last
        return {"x": value, "dx": delta}

    def score_one(self, value: float, ts_ms: int) -> float:
        """HST's own score (already in [0, 1], high is anomalous)."""
        return clamp01(float(self.model.score_one(self._features(value))))

    def learn_one(self, value: float, ts_ms: int) -> None:
        """Update scaler and trees."""
        self.model.learn_one(self._features(value))
        self.last = value
