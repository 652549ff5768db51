"""One stream's scoring loop: score, flag after warm-up, learn unless flagged.

Shared by the gateway's :class:`~gateway.detect.bank.DetectorBank`, ``iotgw detect`` and the
NAB benchmark, so all three score a series exactly the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from gateway.detect.base import Detector


@dataclass(frozen=True, slots=True)
class StreamPolicy:
    """How a stream's scores become flags.

    - ``threshold``: a score at or above it flags the reading.
    - ``warmup``: the first readings of a stream never flag (the model is still learning).
    - ``relearn_after``: a flagged reading is kept out of the model (or, for a detector that
      declares ``learn_flagged = "clip"``, learned winsorised at the edge it accepts:
      :meth:`~gateway.detect.base.BaseDetector.winsorised`), unless the stream has been
      flagged this many times in a row: then the new level is the new normal (a drift, a
      replaced sensor) and the detector relearns from the flagged readings
      (:meth:`~gateway.detect.base.BaseDetector.relearned`) rather than alarming forever. So a
      level shift raises at most ``relearn_after`` alarms in a row before the model has moved.
    - ``relearn_leak``: "in a row" is leaky: a reading that is not flagged takes only this much
      off the count. A real anomaly is rare (well under one reading in a hundred); when one
      reading in ``1 + 1 / relearn_leak`` (five) keeps being flagged for a sustained period, it
      is the model that is wrong, not the world, e.g. a new regime whose noise straddles the
      threshold, so that only its quiet half is ever learned and the model never catches up.
    """

    threshold: float
    warmup: int = 100
    relearn_after: int = 50
    relearn_leak: float = 0.25


@dataclass(slots=True)
class StreamState:
    """A detector plus the per-stream counters the policy needs."""

    detector: Detector
    seen: int = 0
    flagged_run: float = 0.0
    #: The flagged readings of the current (leaky) run, at most ``relearn_after`` of them;
    #: None while there is none (most streams, most of the time: no empty list each).
    run: list[tuple[float, int]] | None = None
    #: Readings left in the refractory period after an alarm (``alarm_refractory``).
    quiet: int = 0

    def step(self, value: float, ts_ms: int, policy: StreamPolicy) -> tuple[float, bool]:
        """Score one reading; ``(score, flagged)``. A non-finite value scores 1, never learned.

        A detector that declares ``alarm_refractory`` > 0 has its scores scaled by
        ``alarm_damp`` for that many readings after an alarm (one incident, one alarm rather
        than a volley, as sentinel does inside itself): the returned score and the flag are
        the damped ones, while what the model learns (winsorised or not, the relearn count)
        still follows the undamped score, so the refractory period changes the alarms, never
        the model.
        """
        if not math.isfinite(value):
            self.seen += 1
            return 1.0, self.seen > policy.warmup
        raw = self.detector.score_value(value, ts_ms)
        over = self.seen >= policy.warmup and raw >= policy.threshold
        self.seen += 1
        score = raw
        if self.quiet > 0:
            score = raw * self.detector.alarm_damp
            self.quiet -= 1
        flagged = over and score >= policy.threshold
        if flagged:
            self.quiet = self.detector.alarm_refractory
        self._follow(value, ts_ms, over, policy)
        return score, flagged

    def _follow(self, value: float, ts_ms: int, over: bool, policy: StreamPolicy) -> None:
        """Learn the reading, or absorb it as flagged and count it towards a relearn."""
        if not over:
            if self.flagged_run:
                self.flagged_run = max(0.0, self.flagged_run - policy.relearn_leak)
                if not self.flagged_run:
                    self.run = None
            self.detector.learn_value(value, ts_ms)
            return
        self.flagged_run += 1
        if self.run is None:
            self.run = []
        elif len(self.run) >= policy.relearn_after:  # the leaky run can outgrow the bound
            del self.run[0]
        self.run.append((value, ts_ms))
        if self.flagged_run >= policy.relearn_after:
            self.detector = self.detector.relearned(self.run)
            self.flagged_run, self.run = 0.0, None
        else:
            self.detector.absorb_flagged(value, ts_ms, policy.threshold)
