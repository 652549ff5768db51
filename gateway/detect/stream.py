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
    - ``relearn_after``: a flagged reading is kept out of the model, unless the stream has been
      flagged this many times in a row: then the new level is the new normal (a drift, a
      replaced sensor) and the model learns it rather than alarming forever.
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

    def step(self, value: float, ts_ms: int, policy: StreamPolicy) -> tuple[float, bool]:
        """Score one reading; ``(score, flagged)``. A non-finite value scores 1, never learned."""
        if not math.isfinite(value):
            self.seen += 1
            return 1.0, self.seen > policy.warmup
        score = self.detector.score_one(value, ts_ms)
        flagged = self.seen >= policy.warmup and score >= policy.threshold
        self.seen += 1
        self.flagged_run = self.flagged_run + 1 if flagged else 0
        if not flagged or self.flagged_run >= policy.relearn_after:
            self.detector.learn_one(value, ts_ms)
        else:
            self.detector.skip_one(value, ts_ms)
        return score, flagged
