"""The detector role, as a River anomaly detector: score one reading in [0, 1], then learn it.

Every detector is a :class:`river.base.AnomalyDetector` (the class River 0.26 also exposes as
the base of ``river.anomaly``'s models): ``learn_one(x)`` / ``score_one(x)`` take a feature
dict ``{"value": v, "t": ts}`` (``t``: UTC epoch milliseconds or a ``datetime``, optional), so a
detector is used from a notebook exactly like River's own models and composes with
``river.compose`` and ``river.preprocessing`` (``compose.Select("value") | scaler | det``).

The gateway calls the same model through the float path (:meth:`BaseDetector.score_value`,
``learn_value``, ``skip_value``): the River methods adapt a dict to it here, in one place, and
the per-stream host (:class:`~gateway.detect.stream.StreamState`) uses it directly, so a
reading costs no dict. ``score_*`` never changes the model (a flagged reading can be kept out
of it); ``learn_*`` folds the reading in. A reading is anomalous when its score reaches the
detector's threshold (``default_threshold`` unless the settings override it).

Every detector pickles (its whole state is plain attributes), clones (River's ``clone()``:
every constructor argument is kept under its own name) and is deterministic for a given
``seed``: the :class:`~gateway.detect.bank.DetectorBank` saves them to disk between runs.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

from river import base as river_base

#: Feature names of River's dict: the reading and (optionally) its time.
VALUE_KEY = "value"
TIME_KEY = "t"
#: Bisection steps that find the edge of the acceptance region (a 2**-16 of the distance).
CLIP_STEPS = 16


@runtime_checkable
class Detector(Protocol):
    """One stream's online anomaly model, as the gateway drives it."""

    #: Registry name, e.g. ``"hst"``.
    name: ClassVar[str]
    #: Threshold the gateway uses when the settings give none.
    default_threshold: ClassVar[float]
    #: Bumped whenever the pickled state changes shape: older saved state is then discarded.
    state_version: ClassVar[int]
    #: Readings after an alarm whose scores the stream scales by ``alarm_damp`` (0: none).
    alarm_refractory: ClassVar[int]
    alarm_damp: ClassVar[float]

    def score_value(self, value: float, ts_ms: int) -> float:
        """The anomaly score of ``value`` in [0, 1], without learning from it."""
        ...

    def learn_value(self, value: float, ts_ms: int) -> None:
        """Fold ``value`` into the model."""
        ...

    def skip_value(self, value: float, ts_ms: int) -> None:
        """A reading that was flagged: keep it out of the model of normal.

        Only bookkeeping that must follow every reading (the previous value, time since the
        last alarm) may change here.
        """
        ...

    def absorb_flagged(self, value: float, ts_ms: int, threshold: float) -> None:
        """Flagged at ``threshold``: skipped, or learned winsorised (``learn_flagged``)."""
        ...

    def relearned(self, recent: Sequence[tuple[float, int]]) -> Detector:
        """The model after a lasting shift: ``recent`` (the flagged run) is the new normal."""
        ...

    def expected_range(self) -> tuple[float, float] | None:
        """What the model currently expects (low, high), or None when it has no opinion yet."""
        ...


def reading(x: dict[Any, Any]) -> tuple[float, int]:
    """``(value, ts_ms)`` of River's feature dict.

    The value is ``x["value"]``, or the one feature other than ``"t"`` (so a preprocessing step
    that renames nothing, or a one-feature dict, works as is). The time is ``x["t"]`` (epoch
    milliseconds or a ``datetime``), 0 when absent: time-of-day habits then stay unused.
    """
    if VALUE_KEY in x:
        value = x[VALUE_KEY]
    else:
        others = [v for k, v in x.items() if k != TIME_KEY]
        if len(others) != 1:
            raise ValueError(f"expected a {VALUE_KEY!r} feature (got {sorted(map(str, x))})")
        value = others[0]
    t = x.get(TIME_KEY)
    if t is None:
        ts_ms = 0
    elif isinstance(t, datetime):
        ts_ms = int(t.timestamp() * 1000)
    else:
        ts_ms = int(t)
    return float(value), ts_ms


class BaseDetector(river_base.AnomalyDetector):
    """Shared plumbing: River's dict protocol, :meth:`step`, and the default relearn rule."""

    name: ClassVar[str] = ""
    default_threshold: ClassVar[float] = 0.5
    state_version: ClassVar[int] = 1
    #: What a flagged reading does to the model: ``"skip"`` (nothing but :meth:`skip_value`'s
    #: bookkeeping) or ``"clip"`` (learned winsorised at the flag boundary, :meth:`winsorised`).
    learn_flagged: ClassVar[Literal["skip", "clip"]] = "skip"
    #: A refractory period the stream applies after an alarm (``StreamState.step``): scores
    #: scaled by ``alarm_damp`` for that many readings; 0 for a detector with none or with its
    #: own (sentinel's ``refractory``).
    alarm_refractory: ClassVar[int] = 0
    alarm_damp: ClassVar[float] = 1.0

    # -- River's protocol ------------------------------------------------------------------------
    def learn_one(self, x: dict[Any, Any]) -> None:
        """River: fold the reading ``x`` (``{"value": v, "t": ts_ms}``) into the model."""
        self.learn_value(*reading(x))

    def score_one(self, x: dict[Any, Any]) -> float:
        """River: the anomaly score of ``x`` in [0, 1] (high is anomalous), model unchanged."""
        return self.score_value(*reading(x))

    # -- the gateway's float path ----------------------------------------------------------------
    @abstractmethod
    def score_value(self, value: float, ts_ms: int) -> float:
        """The anomaly score of ``value`` in [0, 1], without learning from it."""

    @abstractmethod
    def learn_value(self, value: float, ts_ms: int) -> None:
        """Fold ``value`` into the model."""

    def skip_value(self, value: float, ts_ms: int) -> None:
        """A flagged reading: by default nothing changes."""
        return None

    def absorb_flagged(self, value: float, ts_ms: int, threshold: float) -> None:
        """A reading the policy flagged at ``threshold``: the one place that applies
        ``learn_flagged``. ``"clip"`` learns :meth:`winsorised` (when it has one), else the
        reading is skipped (:meth:`skip_value`)."""
        edge = self.winsorised(value, ts_ms, threshold)
        if edge is None:
            self.skip_value(value, ts_ms)
        else:
            self.learn_edge(edge, ts_ms)

    def learn_edge(self, edge: float, ts_ms: int) -> None:
        """Learn the winsorised point of a flagged reading: like any reading, by default."""
        self.learn_value(edge, ts_ms)

    def winsorised(self, value: float, ts_ms: int, threshold: float) -> float | None:
        """The flagged ``value`` moved back to the edge of what the model accepts; None: skip.

        Why a model that estimates a spread must learn this rather than nothing: a policy that
        keeps every reading scoring above the threshold out of the model fits it to a
        *truncated* sample. Its spread (a window's standard deviation, a running variance, the
        history a raw score is calibrated against) comes out too small, so more readings cross
        the threshold and are kept out, and the spread shrinks further: a feedback loop that
        on heavy-tailed series runs away (measured: every River model scored at or below 0 on
        the NAB dev CV that way, 25-45 when learning everything). Winsorising is the classical
        cure (Huber's M-estimation clips a residual at ``c`` instead of dropping it): the
        flagged reading still counts, as the most extreme value the model accepts. So

        - the spread cannot collapse: a boundary value lies beyond every accepted reading, so
          learning it widens the spread; a burst of outliers widens it a little per reading
          (the model becomes more tolerant, the loop runs the other way and settles);
        - an outlier's influence is bounded: however far out, it moves the model as much as
          a reading on the boundary, never more, so a spike cannot drag the mean or inflate the
          variance the way learning it raw would (the plain NAB protocol, which we do not run);
        - the rest of the policy holds: the reading is still flagged, and a lasting shift is
          still relearned by :meth:`relearned` (winsorised readings move the model only to the
          boundary, about a threshold's width, which is what the relearn rule is for).

        The boundary is the nearer of two: the detector's own :meth:`expected_range` (what it
        calls normal, a few spreads wide: Huber's ``c``) and the policy's threshold. The reading
        is first clipped into the expected range; if that point still scores at or above
        ``threshold``, the point between the range's middle and it where the score reaches the
        threshold is found by bisection (:data:`CLIP_STEPS` score evaluations, on flagged
        readings only, which are rare). So the learned point is never one the policy would
        itself flag, and never farther out than the model's normal range: clipping at the
        threshold alone was tried and rejected, since a calibrated detector's threshold sits
        at a tail probability of 1e-5 of a heavy-tailed raw score, many spreads out, and a
        burst learned there inflated the forecaster's error spread without bound.
        None (skip) when the detector declares ``"skip"``, has no range yet, or flags the
        middle of its own range.
        """
        if self.learn_flagged != "clip":
            return None
        rng = self.expected_range()
        if rng is None:
            return None
        low, high = rng
        inside = 0.5 * (low + high)
        if not math.isfinite(inside):
            return None
        outside = min(max(value, low), high)
        if self.score_value(outside, ts_ms) < threshold:
            return outside
        if self.score_value(inside, ts_ms) >= threshold:
            return None
        for _ in range(CLIP_STEPS):
            mid = 0.5 * (inside + outside)
            if self.score_value(mid, ts_ms) < threshold:
                inside = mid
            else:
                outside = mid
        return inside

    def relearned(self, recent: Sequence[tuple[float, int]]) -> BaseDetector:
        """After a lasting shift: the model learns the flagged run ``recent``, in place.

        Each relearn moves the model ``relearn_after`` readings towards the new normal, so a
        level shift alarms a bounded number of times (a windowed model: about a tenth of its
        window for a shift of ten standard deviations). A fresh model that knew only the run
        was measured too (bench/anomaly_nab.py): it cascades, since 50 readings are a sliver
        of a daily cycle, and every reading outside the sliver is flagged again.
        """
        for value, ts_ms in recent:
            self.learn_value(value, ts_ms)
        return self

    def expected_range(self) -> tuple[float, float] | None:
        """No opinion by default."""
        return None

    def step(self, value: float, ts_ms: int = 0) -> float:
        """Score ``value``, then learn from it; the score."""
        score = self.score_value(value, ts_ms)
        self.learn_value(value, ts_ms)
        return score


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
