"""One stream's scoring loop: score, flag after warm-up, learn unless flagged.

Shared by the gateway's :class:`~gateway.detect.bank.DetectorBank`, ``iotgw detect`` and the
NAB benchmark, so all three score a series exactly the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from gateway.detect.base import Detector


@dataclass(frozen=True, slots=True)
class StreamPolicy:
    """How a stream's scores become flags.

    - ``threshold``: a score at or above it flags the reading.
    - ``warmup``: the first readings of a stream never flag (the model is still learning).
    - ``relearn_after``: a flagged reading is kept out of the model, unless the stream has been
      flagged this many times in a row: then the new level is the new normal (a drift, a
      replaced sensor) and the detector relearns from that run
      (:meth:`~gateway.detect.base.BaseDetector.relearned`) rather than alarming forever. So a
      level shift raises at most ``relearn_after`` alarms in a row before the model has moved.
    """

    threshold: float
    warmup: int = 100
    relearn_after: int = 50


@dataclass(slots=True)
class StreamState:
    """A detector plus the per-stream counters the policy needs."""

    detector: Detector
    seen: int = 0
    flagged_run: int = 0
    #: The current run of flagged readings (at most ``relearn_after`` of them).
    run: list[tuple[float, int]] = field(default_factory=list)

    def step(self, value: float, ts_ms: int, policy: StreamPolicy) -> tuple[float, bool]:
        """Score one reading; ``(score, flagged)``. A non-finite value scores 1, never learned."""
        if not math.isfinite(value):
            self.seen += 1
            return 1.0, self.seen > policy.warmup
        score = self.detector.score_value(value, ts_ms)
        flagged = self.seen >= policy.warmup and score >= policy.threshold
        self.seen += 1
        if not flagged:
            if self.flagged_run:
                self.flagged_run, self.run = 0, []
            self.detector.learn_value(value, ts_ms)
            return score, False
        self.flagged_run += 1
        self.run.append((value, ts_ms))
        if self.flagged_run >= policy.relearn_after:
            self.detector = self.detector.relearned(self.run)
            self.flagged_run, self.run = 0, []
        else:
            self.detector.skip_value(value, ts_ms)
        return score, True
