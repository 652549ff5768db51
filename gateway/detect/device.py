"""Per-device, multi-sensor detection: a device's sensors scored jointly (optional).

Most machine faults show across sensors together: a worn bearing raises vibration, then the
casing temperature, then the current, while the load that normally moves them together has not
changed. Per-stream detectors see each rise alone, within each sensor's own daily range; a joint
model sees that the sensors left the direction they always move along.

numpy is imported where it is used, not with the module: the gateway imports this module
whether or not ``detect.device_detector`` is on (off by default), and numpy alone is ~18 MB of
resident memory (decision 74).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from river import base as river_base

from gateway.detect.likelihood import AnomalyLikelihood
from gateway.detect.stream import StreamPolicy

if TYPE_CHECKING:
    import numpy as np

_DAY_MS = 86_400_000


class MahalanobisDetector(river_base.AnomalyDetector):
    """Distance of the device's reading from its habitual joint distribution (River protocol).

    ``learn_one(x)`` / ``score_one(x)`` take the device's feature dict, e.g.
    ``{"temperature": 41.2, "vibration": 2.3, "current": 11.0, "t": ts_ms}`` (``t`` optional).

    Parameters and why:

    - ``memory_days``: the mean and covariance are exponentially weighted with a time constant
      of this many days (1/n while fewer readings are in, so a young model is a plain average).
      One day, because the load follows the working day: the covariance must hold a whole daily
      cycle to know that current, vibration and temperature rise *together* with the load; any
      shorter and the afternoon looks anomalous, any longer and a re-set machine takes weeks.
    - ``average``: the distance is averaged over this many readings before it is scored. Wear
      is persistent, a single odd reading is the per-stream detectors' business; averaging
      cuts the false alarms of noise at a lag of ``average`` readings.
    - The score is the anomaly likelihood of that average against the device's own history of
      it (:class:`~gateway.detect.likelihood.AnomalyLikelihood`): real sensors are neither
      Gaussian nor independent from one reading to the next, so the chi-square tail the
      distance would have in theory is far too thin; the empirical one is what the device
      actually does. 0.5 means a tail probability of 1e-5, as for every other detector.
    - ``min_readings``: no score before the covariance has seen this many readings (20 per
      dimension is the usual rule of thumb for a stable covariance estimate; 200 covers 5).

    >>> import random
    >>> rng, det = random.Random(1), MahalanobisDetector(min_readings=50)
    >>> for i in range(2000):
    ...     load = rng.random()
    ...     det.learn_one({"current": 10 * load + rng.gauss(0, .1),
    ...                    "vibration": 2 * load + rng.gauss(0, .05), "t": i * 60_000})
    >>> ok = {"current": 5.0, "vibration": 1.0}
    >>> worn = {"current": 5.0, "vibration": 1.6}
    >>> det.score_one(ok) < 0.5 < det.score_one(worn)
    True
    >>> det.contributors(worn)
    ['vibration']
    """

    name: ClassVar[str] = "mahalanobis"
    default_threshold: ClassVar[float] = 0.5
    state_version: ClassVar[int] = 1

    def __init__(self, memory_days: float = 1.0, average: int = 10, min_readings: int = 200):
        import numpy as np

        if memory_days <= 0 or average < 1 or min_readings < 2:
            raise ValueError("mahalanobis: memory_days > 0, average >= 1, min_readings >= 2")
        self.memory_days = memory_days
        self.average = average
        self.min_readings = min_readings
        self.keys: tuple[str, ...] = ()
        self.n = 0
        self.last_ts: int | None = None
        self.mean = np.zeros(0)
        self.cov = np.zeros((0, 0))
        self.likelihood = AnomalyLikelihood(history=1000, average=average, min_fit=200)

    # -- features --------------------------------------------------------------------------------
    def _vector(self, x: dict[Any, Any]) -> np.ndarray | None:
        import numpy as np

        if not self.keys:
            return None
        try:
            return np.array([float(x[k]) for k in self.keys])
        except (KeyError, TypeError, ValueError):
            return None

    def _distance_parts(self, v: np.ndarray) -> tuple[float, np.ndarray]:
        """Squared distance and each sensor's share of it (``z_i * (S^-1 z)_i``)."""
        import numpy as np

        z = v - self.mean
        floor = 1e-9 * (1.0 + np.abs(self.mean))  # a constant sensor must not make S singular
        solved = np.linalg.solve(self.cov + np.diag(floor + 1e-6 * np.diag(self.cov)), z)
        parts = z * solved
        return float(parts.sum()), parts

    # -- River's protocol ------------------------------------------------------------------------
    def score_one(self, x: dict[Any, Any]) -> float:
        """Anomaly likelihood of the recent mean distance, in [0, 1] (0 while calibrating)."""
        import numpy as np

        v = self._vector(x)
        if v is None or self.n < self.min_readings or not np.all(np.isfinite(v)):
            return 0.0 if v is not None and np.all(np.isfinite(v)) else float(self.n > 0)
        return self.likelihood.score(self._raw(v))

    def _raw(self, v: np.ndarray) -> float:
        """``log1p`` of the squared distance per dimension: compressed, heavy tails tamed."""
        return math.log1p(max(0.0, self._distance_parts(v)[0]) / len(self.keys))

    def learn_one(self, x: dict[Any, Any]) -> None:
        """Fold the reading into the mean and covariance (and the recent distances)."""
        import numpy as np

        if not self.keys:
            self.keys = tuple(sorted(str(k) for k in x if k != "t"))
            self.mean = np.zeros(len(self.keys))
            self.cov = np.zeros((len(self.keys), len(self.keys)))
        v = self._vector(x)
        if v is None or not np.all(np.isfinite(v)):
            return
        if self.n >= self.min_readings:
            self.likelihood.learn(self._raw(v))
        rate = self._rate(int(x.get("t") or 0))
        delta = v - self.mean
        self.mean = self.mean + rate * delta
        self.cov = (1 - rate) * (self.cov + rate * np.outer(delta, delta))
        self.n += 1

    def _rate(self, ts_ms: int) -> float:
        dt = 0 if self.last_ts is None else max(0, ts_ms - self.last_ts)
        self.last_ts = ts_ms
        timed = 1.0 - math.exp(-dt / (self.memory_days * _DAY_MS))
        return max(timed, 1.0 / (self.n + 1))

    def contributors(self, x: dict[Any, Any], share: float = 0.7) -> list[str]:
        """The fewest sensors that make up ``share`` of the reading's squared distance."""
        import numpy as np

        v = self._vector(x)
        if v is None or self.n < 2:
            return []
        total, parts = self._distance_parts(v)
        out: list[str] = []
        acc = 0.0
        for i in np.argsort(-parts):
            out.append(self.keys[int(i)])
            acc += float(parts[i])
            if acc >= share * total:
                break
        return out


@dataclass(slots=True)
class DeviceState:
    """A device model plus the policy counters (same rule as a stream: warm-up, no learning
    from flagged readings, relearn from the run after ``relearn_after`` flags in a row)."""

    detector: MahalanobisDetector
    seen: int = 0
    flagged_run: float = 0.0
    run: list[dict[str, float]] = field(default_factory=list)

    def step(self, x: dict[str, float], policy: StreamPolicy) -> tuple[float, bool]:
        score = self.detector.score_one(x)
        flagged = self.seen >= policy.warmup and score >= policy.threshold
        self.seen += 1
        if not flagged:
            if self.flagged_run:
                self.flagged_run = max(0.0, self.flagged_run - policy.relearn_leak)
                if not self.flagged_run:
                    self.run = []
            self.detector.learn_one(x)
            return score, False
        self.flagged_run += 1
        if len(self.run) >= policy.relearn_after:  # the leaky run can outgrow the bound
            del self.run[0]
        self.run.append(x)
        if self.flagged_run >= policy.relearn_after:
            self.detector = relearned(self.detector, self.run)
            self.flagged_run, self.run = 0.0, []
        return score, True


def relearned(det: MahalanobisDetector, run: Sequence[dict[str, float]]) -> MahalanobisDetector:
    """A fresh model of the new normal (River's ``clone()``) that learned the run."""
    fresh = det.clone()
    for x in run:
        fresh.learn_one(x)
    return fresh
