"""An ensemble: the max (or mean) of its members' calibrated tail probabilities."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from gateway.detect.base import BaseDetector
from gateway.detect.catalog import create_member
from gateway.detect.likelihood import AnomalyLikelihood

#: Members whose score already is a log-scaled tail probability (0.5 = 1e-5): used as is.
CALIBRATED = frozenset({"sentinel", "hst", "predictive"})
COMBINE = ("max", "mean")


class EnsembleDetector(BaseDetector):
    """Several detectors on one stream, their scores made comparable, then combined.

    ``members`` names registered detectors joined by ``+`` (``"sentinel+jump"``). A member
    whose score is not already a calibrated tail probability is calibrated against its own
    history (:class:`~gateway.detect.likelihood.AnomalyLikelihood`, no averaging), so 0.5
    means the same thing, a tail probability of 1e-5, for every member. ``combine="max"``:
    any member can raise the alarm; ``"mean"``: members must agree.

    >>> det = EnsembleDetector("sentinel+jump")
    >>> for i in range(2000):
    ...     det.learn_one({"value": 20.0 + (i % 7) * 0.3, "t": i * 60_000})
    >>> det.score_one({"value": 21.2}) < 0.5 <= det.score_one({"value": 90.0})
    True
    """

    name: ClassVar[str] = "ensemble"
    default_threshold: ClassVar[float] = 0.5
    state_version: ClassVar[int] = 1

    def __init__(self, members: str = "sentinel+jump", combine: str = "mean") -> None:
        names = [m.strip() for m in members.split("+") if m.strip()]
        if len(names) < 2 or "ensemble" in names:
            raise ValueError(f"ensemble: members {members!r}: name two or more other detectors")
        if combine not in COMBINE:
            raise ValueError(f"ensemble: combine {combine!r}: one of {', '.join(COMBINE)}")
        self.members = members
        self.combine = combine
        self.models: list[Any] = [create_member(n) for n in names]
        self.calibrations: list[AnomalyLikelihood | None] = [
            None if n in CALIBRATED else AnomalyLikelihood(history=1000, average=1, min_fit=100)
            for n in names
        ]

    def _scores(self, value: float, ts_ms: int) -> list[float]:
        out = []
        for model, cal in zip(self.models, self.calibrations, strict=True):
            raw = model.score_value(value, ts_ms)
            out.append(raw if cal is None else cal.score(raw))
        return out

    def score_value(self, value: float, ts_ms: int) -> float:
        """Max (or mean) of the members' calibrated scores."""
        scores = self._scores(value, ts_ms)
        return max(scores) if self.combine == "max" else sum(scores) / len(scores)

    def learn_value(self, value: float, ts_ms: int) -> None:
        """Every member learns; every calibration learns its member's raw score first."""
        for model, cal in zip(self.models, self.calibrations, strict=True):
            if cal is not None:
                cal.learn(model.score_value(value, ts_ms))
            model.learn_value(value, ts_ms)

    def skip_value(self, value: float, ts_ms: int) -> None:
        """Every member follows the flagged reading its own way."""
        for model in self.models:
            model.skip_value(value, ts_ms)

    def absorb_flagged(self, value: float, ts_ms: int, threshold: float) -> None:
        """Every member follows the flagged reading by its own ``learn_flagged``, winsorised at
        its own default threshold (the ensemble's threshold is about the combined score); a
        calibration learns its member's raw score of what the member learned."""
        for model, cal in zip(self.models, self.calibrations, strict=True):
            edge = model.winsorised(value, ts_ms, model.default_threshold)
            if edge is None:
                model.skip_value(value, ts_ms)
                continue
            if cal is not None:
                cal.learn(model.score_value(edge, ts_ms))
            model.learn_edge(edge, ts_ms)

    def relearned(self, recent: Sequence[tuple[float, int]]) -> EnsembleDetector:
        """Every member relearns by its own rule."""
        self.models = [m.relearned(recent) for m in self.models]
        return self

    def expected_range(self) -> tuple[float, float] | None:
        """The first member's opinion (the one listed first is the primary)."""
        rng: tuple[float, float] | None = self.models[0].expected_range()
        return rng
