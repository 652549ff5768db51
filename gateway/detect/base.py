"""The detector role: score one reading of one stream in [0, 1], then learn from it.

A detector sees one (device, sensor) stream, one reading at a time, in order, with no look-ahead.
``score_one`` must not change the model (so a flagged reading can be kept out of it);
``learn_one`` folds the reading in. Scores are in [0, 1]; the reading is anomalous when the score
reaches the detector's threshold (``default_threshold`` unless the settings override it).

Every detector pickles (its whole state is plain attributes) and is deterministic for a given
``seed``: the :class:`~gateway.detect.bank.DetectorBank` saves them to disk between runs.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import ClassVar, Protocol, runtime_checkable


@runtime_checkable
class Detector(Protocol):
    """One stream's online anomaly model."""

    #: Registry name, e.g. ``"hst"``.
    name: ClassVar[str]
    #: Threshold the gateway uses when the settings give none.
    default_threshold: ClassVar[float]
    #: Bumped whenever the pickled state changes shape: older saved state is then discarded.
    state_version: ClassVar[int]

    def score_one(self, value: float, ts_ms: int) -> float:
        """The anomaly score of ``value`` in [0, 1], without learning from it."""
        ...

    def learn_one(self, value: float, ts_ms: int) -> None:
        """Fold ``value`` into the model."""
        ...

    def skip_one(self, value: float, ts_ms: int) -> None:
        """A reading that was flagged: keep it out of the model of normal.

        Only bookkeeping that must follow every reading (the previous value, time since the
        last alarm) may change here.
        """
        ...

    def expected_range(self) -> tuple[float, float] | None:
        """What the model currently expects (low, high), or None when it has no opinion yet."""
        ...


class BaseDetector(ABC):
    """Shared plumbing: :meth:`step` (score then learn) and finite-value guarding."""

    name: ClassVar[str] = ""
    default_threshold: ClassVar[float] = 0.5
    state_version: ClassVar[int] = 1

    @abstractmethod
    def score_one(self, value: float, ts_ms: int) -> float:
        """The anomaly score of ``value`` in [0, 1], without learning from it."""

    @abstractmethod
    def learn_one(self, value: float, ts_ms: int) -> None:
        """Fold ``value`` into the model."""

    def skip_one(self, value: float, ts_ms: int) -> None:
        """A flagged reading: by default nothing changes."""
        return None

    def expected_range(self) -> tuple[float, float] | None:
        """No opinion by default."""
        return None

    def step(self, value: float, ts_ms: int = 0) -> float:
        """Score ``value``, then learn from it; the score."""
        score = self.score_one(value, ts_ms)
        self.learn_one(value, ts_ms)
        return score

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def clamp01(x: float) -> float:
    """``x`` clipped to [0, 1]; NaN becomes 1 (a reading nobody can score is suspicious)."""
    if math.isnan(x):
        return 1.0
    return 0.0 if x < 0.0 else 1.0 if x > 1.0 else x


def squash(z: float, scale: float) -> float:
    """Map a non-negative deviation ``z`` to [0, 1): ``z / (z + scale)``."""
    z = abs(z)
    if math.isinf(z) or math.isnan(z):
        return 1.0
    return z / (z + scale)
