"""Sentinel: our own detector, built to the NAB benchmark's measurements (docs/decisions.md).

Cheap parts, pure Python floats and bounded containers, no per-reading numpy:

1. **Spatial novelty**: a value beyond the lowest or highest value seen so far by more than
   ``tolerance`` x the seen range (the "spatial anomaly" of Numenta's NAB detector) *and* more
   than ``noise_margin`` x the typical step between readings away from the recent level (an
   exponential average, ``level_alpha``) scores 1.0. The second condition keeps noise on a
   slowly wandering level from alarming each time it sets a new extreme (a young stream
   sampled fast has seen little more than its noise); a spike or a drift is a jump from it.
2. **Stuck sensor**: a run of identical readings ``stuck_factor`` x longer than the longest
   completed run before it (and at least ``stuck_min`` long) scores 1.0. The longest run is
   halved every ``stuck_memory`` readings in which no run matched it, so one stuck episode
   does not hide the next for good.
3. **Raw surprise** of each reading, of two kinds:
   - *sequence surprise*: values are quantised into ``bins`` bins (width fixed from the spread of
     the first ``calibrate`` readings); transitions between bins are counted, and a transition
     rarely or never seen after the previous bin is surprising;
   - *time-of-day deviation*: an exponentially weighted mean and spread per slot of the day
     (``day_slots``) catch a missing daily peak that the sequence model finds ordinary.
4. **Anomaly likelihood** over each kind of surprise separately (:class:`AnomalyLikelihood`),
   the larger counts: a burst of surprise in a usually predictable stream scores high; a stream
   always surprising does not.
5. **Clean calibration**: while a stream is still silent, a reading ``calib_reject`` typical
   steps from the level (a spike) is not learned, so it cannot widen the seen range for good.
6. **Refractory period**: for ``refractory`` readings after an alarm, scores are scaled by
   ``damp``, so one incident raises one alarm rather than a volley.

Why each parameter has its value (docs/anomaly-detection.md, "guarding against over-fitting").
*CV* means chosen by the leave-one-category-out cross-validation of ``bench/anomaly_nab.py``
from its declared grid, never by the full-dev score; the others are set by an argument:

- ``tolerance`` 0.02 (*CV*, grid 0.02 / 0.05 / 0.1: 0.02 in 4 of 5 folds).
- ``bins`` 6 (*CV*, grid 6 / 10 / 16: 6 in all four NAB folds).
- ``noise_margin`` 4 (*CV*, grid 2 / 4 / 8): also the usual 4-sigma of a normal's noise.
- ``refractory`` 30, ``damp`` 0.3 (*CV*, grid with ``refractory`` 0): an incident is one event
  to an operator; 30 readings is 2.5 hours at NAB's 5-minute period, one event per incident.
- ``calibrate`` 300, ``silent`` 300: a range and a bin width need a sample of the stream's
  spread; 300 readings give a range that covers 99.3 % of a stationary stream (the expected
  share of a distribution outside the extremes of n samples is 2/(n+1)).
- ``day_slots`` 24, ``slot_alpha`` 0.05: one slot an hour is what a daily habit resolves with
  a few readings a slot at 5-minute sampling; alpha 0.05 averages ~20 days of a slot.
- ``history`` 1000, ``average`` 10, ``min_fit`` 200: Numenta's anomaly likelihood (Ahmad et al.
  2017) values for its history and short average; 200 readings is the least that fits a
  mean and spread with a standard error under 10 %.
- ``stuck_min`` 20, ``stuck_factor`` 3, ``stuck_memory`` 500: a real sensor's noise makes
  twenty identical readings in a row implausible unless the stream is quantised, and three
  times the longest run ever seen is the margin for a quantised one; the memory halves that
  run after 500 readings so one stuck episode does not hide the next for ever.
- ``calib_reject`` 100: a reading a hundred typical steps from the level is a gross outlier
  under any noise model; only those are kept out of calibration.
- ``step_alpha`` 0.01, ``level_alpha`` 0.05: the typical step averages ~100 readings, the level
  ~20: the level must follow a wander, the noise estimate must not follow a spike.
- ``max_transitions`` 64: memory (16 KB a stream), not quality: a 6-bin stream has at most
  36 transitions between its calibrated bins and uses far fewer.
"""

from __future__ import annotations

import math
from array import array
from typing import ClassVar

from gateway.detect.base import BaseDetector
from gateway.detect.likelihood import AnomalyLikelihood
from gateway.detect.shared_params import expose, shared
from gateway.detect.slots import restore, slot_state
from gateway.detect.transitions import SPAN, clamp, decayed

_DAY_MS = 86_400_000


class SentinelDetector(BaseDetector):
    """Spatial novelty + stuck sensor + sequence / time-of-day surprise + anomaly likelihood.

    >>> det = SentinelDetector()
    >>> for i in range(3000):
    ...     det.learn_one({"value": 10.0 + (i % 24) + (i % 7) * 0.1, "t": i * 300_000})
    >>> det.score_one({"value": 15.3, "t": 3000 * 300_000}) < 0.5 <= det.score_one({"value": 80.0})
    True
    """

    name: ClassVar[str] = "sentinel"
    default_threshold: ClassVar[float] = 0.5
    state_version: ClassVar[int] = 8

    # One instance per stream: its 24 attributes in slots, not an instance dict (~1.6 KB
    # past 30 attributes, where CPython stops sharing dict keys; decision 74), and the
    # twenty parameters in one shared record, ``p`` (decision 83).
    __slots__ = (
        "_memo", "anchor", "counts", "day", "first_ts", "high", "last", "level", "longest",
        "longest_age", "low", "n", "origin", "p", "prev_bin", "quiet", "records", "rejected",
        "resolution", "run", "seq_likelihood", "tod_likelihood", "totals", "typical_step",
    )
    # The parameters read through ``p`` (properties installed below the class).
    tolerance: float
    bins: int
    calibrate: int
    max_transitions: int
    day_slots: int
    slot_alpha: float
    stuck_min: int
    stuck_factor: float
    stuck_memory: int
    calib_reject: float
    refractory: int
    damp: float
    history: int
    average: int
    min_fit: int
    silent: int
    noise_margin: float
    step_alpha: float
    level_alpha: float
    record_rate: int

    def __init__(
        self,
        tolerance: float = 0.02,
        bins: int = 6,
        calibrate: int = 300,
        max_transitions: int = 64,
        day_slots: int = 24,
        slot_alpha: float = 0.05,
        stuck_min: int = 20,
        stuck_factor: float = 3.0,
        stuck_memory: int = 500,
        calib_reject: float = 100.0,
        refractory: int = 30,
        damp: float = 0.3,
        history: int = 1000,
        average: int = 10,
        min_fit: int = 200,
        silent: int = 300,
        noise_margin: float = 4.0,
        step_alpha: float = 0.01,
        level_alpha: float = 0.05,
        record_rate: int = 0,
    ) -> None:
        _check(bins >= 1 and calibrate >= 2 and history >= 10 and average >= 1, "sizes too small")
        _check(tolerance >= 0 and 0.0 <= damp <= 1.0 and 0 < slot_alpha <= 1, "rate out of range")
        _check(day_slots >= 0 and refractory >= 0 and min_fit >= 2, "counts must be positive")
        _check(noise_margin >= 0 and 0 < step_alpha <= 1, "noise margin out of range")
        # The parameters, shared by every stream built with the same ones (decision 83).
        self.p = shared((
            ("tolerance", tolerance), ("bins", bins), ("calibrate", calibrate),
            ("max_transitions", max_transitions), ("day_slots", day_slots),
            ("slot_alpha", slot_alpha), ("stuck_min", stuck_min), ("stuck_factor", stuck_factor),
            ("stuck_memory", stuck_memory), ("calib_reject", calib_reject),
            ("refractory", refractory), ("damp", damp), ("history", history),
            ("average", average), ("min_fit", min_fit), ("silent", silent),
            ("noise_margin", noise_margin), ("step_alpha", step_alpha),
            ("level_alpha", level_alpha), ("record_rate", record_rate),
        ))
        self.records = 0  # readings that were spatially novel once scoring started
        self.typical_step = 0.0  # mean absolute step between consecutive learned readings
        self.level = 0.0  # short exponential average of the learned readings
        self.anchor: float | None = None  # the last learned reading
        self.rejected = 0  # gross outliers in a row while calibrating
        self.n = 0
        self.low = math.inf
        self.high = -math.inf
        self.origin = 0.0
        self.resolution = 0.0
        self.prev_bin: int | None = None
        # The transition table (a * SPAN + b -> count; gateway.detect.transitions) and each
        # source bin's total: None until the first transition is counted, after calibration
        # (decision 83).
        self.counts: dict[int, float] | None = None
        self.totals: dict[int, float] | None = None
        # Each slot's mean, spread and count, in one typed array [means | spreads | counts]:
        # 8 bytes a value, where three lists held a 24-byte float object per learned value.
        self.day = array("d", bytes(3 * 8 * day_slots))
        self.first_ts: int | None = None
        self.last: float | None = None
        self.run = 0
        self.longest = 1
        self.longest_age = 0  # readings since the longest run was last matched
        self.quiet = 0
        # One likelihood per kind of surprise: each is judged against its own habit. Made when
        # it learns its first raw score (after calibration; after two days for the time of
        # day): until then a stream does not pay for them, and an absent one scores as a fresh
        # one would, 0 (decision 83).
        self.seq_likelihood: AnomalyLikelihood | None = None
        self.tod_likelihood: AnomalyLikelihood | None = None
        self._memo: tuple[float, int, float] | None = None

    def __setstate__(self, state: object) -> None:
        if isinstance(state, tuple):  # (instance dict, slots), as pickle gives for slots
            state = {**(state[0] or {}), **(state[1] or {})}
        if not isinstance(state, dict):
            raise TypeError(f"sentinel: unexpected state {type(state).__name__}")
        state = dict(state)
        if "slot_mean" in state:  # saved before decision 74
            state["day"] = array("d", [*state.pop("slot_mean"), *state.pop("slot_dev"),
                                       *map(float, state.pop("slot_n"))])
        # Each parameter is saved under its own name (the layout before decision 83).
        self.p = shared(tuple((name, state.pop(name, default)) for name, default in _DEFAULTS))
        restore(self, state)
        self._memo = None

    # -- parts ----------------------------------------------------------------------------------
    def _spatial(self, value: float) -> bool:
        if self.n < 2 or self.high <= self.low:
            return False
        margin = (self.high - self.low) * self.p.tolerance
        if not (value > self.high + margin or value < self.low - margin):
            return False
        return abs(value - self.level) > self.p.noise_margin * self.typical_step

    def _novelty(self) -> float:
        """1.0; with ``record_rate``, less when the stream breaks records far more often than
        an i.i.d. one would (about ``2 (ln n + 1)`` records in ``n`` readings, both tails): on
        a trending or heavy-tailed stream a new extreme is ordinary."""
        if not self.p.record_rate or self.records <= 0:
            return 1.0
        expected = 2.0 * (math.log(self.n) + 1.0)
        return min(1.0, expected / self.records)

    def _gross(self, value: float) -> bool:
        """While calibrating (no scores yet), a reading ``calib_reject`` typical steps from the
        level is kept out of the model, so a spike then does not widen the range for good;
        five such readings in a row are a new level and learned."""
        if not self.p.silent > self.n >= 10 or self.typical_step <= 0.0 or self.p.calib_reject <= 0:
            return False
        if self.rejected >= 5:
            return False
        return abs(value - self.level) > self.p.calib_reject * self.typical_step

    def _stuck(self, value: float) -> bool:
        if self.last is None or value != self.last or self.high <= self.low:
            return False
        return self.run + 1 >= max(self.p.stuck_min, self.p.stuck_factor * self.longest)

    def _bin(self, value: float) -> int | None:
        if self.resolution <= 0.0:
            return None
        return clamp(math.floor((value - self.origin) / self.resolution))

    def _sequence(self, value: float) -> float:
        b = self._bin(value)
        if b is None or self.prev_bin is None:
            return 0.0
        if self.totals is None or self.counts is None:
            return 1.0  # no transition counted yet: as a total of 0
        total = self.totals.get(self.prev_bin, 0.0)
        if total <= 0.0:
            return 1.0
        return 1.0 - self.counts.get(self.prev_bin * SPAN + b, 0.0) / total

    def _slot(self, ts_ms: int) -> int:
        return (ts_ms % _DAY_MS) * self.p.day_slots // _DAY_MS

    def _time_of_day(self, value: float, ts_ms: int) -> float | None:
        """Deviation from this slot's habit in [0, 1); None until two days are in."""
        if self.p.day_slots <= 0 or self.first_ts is None or ts_ms - self.first_ts < 2 * _DAY_MS:
            return None
        s = self._slot(ts_ms)
        k, day = self.p.day_slots, self.day
        if day[2 * k + s] < 5:
            return None
        floor = 0.01 * (self.high - self.low) + 1e-12
        z = abs(value - day[s]) / (day[k + s] + floor)
        return z / (z + 3.0)

    def _likely(self, value: float, ts_ms: int) -> float:
        # An absent likelihood has learned nothing: it scores 0, as a fresh one does.
        seq = self._sequence(value)
        score = 0.0 if self.seq_likelihood is None else self.seq_likelihood.score(seq)
        tod = self._time_of_day(value, ts_ms)
        if tod is not None:
            score = max(score, 0.0 if self.tod_likelihood is None
                        else self.tod_likelihood.score(tod))
        return score

    # -- the role -------------------------------------------------------------------------------
    def score_value(self, value: float, ts_ms: int) -> float:
        """1.0 for a value outside the seen range or a stuck run, else the likelihood score.

        0 for the first ``silent`` readings: before that even the range is a guess.
        """
        if self.n < self.p.silent:
            return 0.0
        if self._spatial(value):
            score = self._novelty()
        elif self._stuck(value):
            score = 1.0
        else:
            score = self._likely(value, ts_ms)
        score = score * self.p.damp if self.quiet > 0 else score
        # Remembered until the model next changes: the stream scores a reading, then learns
        # it, and learning needs the same score again (see _scored).
        self._memo = (value, ts_ms, score)
        return score

    def _scored(self, value: float, ts_ms: int) -> float:
        """:meth:`score_value`, reusing the one just computed for this reading, if any.

        Every method that changes the model calls this (or :meth:`_forget`) first, so a
        remembered score always belongs to the model as it is: the same float, not an
        approximation. Nor is it ever pickled (:meth:`__getstate__`).
        """
        if self.n < self.p.silent:
            return 0.0  # what score_value says, and it remembers nothing then
        memo, self._memo = self._memo, None
        if memo is not None and memo[0] == value and memo[1] == ts_ms:
            return float(memo[2])
        score = self.score_value(value, ts_ms)
        self._forget()
        return score

    def _forget(self) -> None:
        self._memo = None

    def __getstate__(self) -> dict[str, object]:
        """The model without a remembered score: scoring never changes what is saved."""
        state = slot_state(self, skip=("_memo", "p"))
        state.update(self.p.items())
        return state

    def learn_value(self, value: float, ts_ms: int) -> None:
        """Update every part with a normal reading (a gross outlier while calibrating: skipped)."""
        if self._gross(value):
            self._forget()
            self.rejected += 1
            self.level += self.p.level_alpha * (value - self.level)
            self.skip_value(value, ts_ms)
            return
        self.rejected = 0
        self._count_record(value)
        self._after(self._scored(value, ts_ms))
        seq, tod = self._sequence(value), self._time_of_day(value, ts_ms)
        if self.anchor is None:
            self.level = value
        else:
            rate = max(self.p.step_alpha, 1.0 / (self.n + 1))
            self.typical_step += rate * (abs(value - self.anchor) - self.typical_step)
            self.level += self.p.level_alpha * (value - self.level)
        self.anchor = value
        self.n += 1
        self.low = min(self.low, value)
        self.high = max(self.high, value)
        if self.n == self.p.calibrate and self.high > self.low:
            self.origin = self.low
            self.resolution = (self.high - self.low) / self.p.bins
        b = self._bin(value)
        if b is not None and self.prev_bin is not None:
            self._count(self.prev_bin, b)
        self.prev_bin = b
        self._learn_slot(value, ts_ms)
        self._track_run(value)
        if b is not None:
            if self.seq_likelihood is None:
                self.seq_likelihood = self._likelihood()
            self.seq_likelihood.learn(seq)
        if tod is not None:
            if self.tod_likelihood is None:
                self.tod_likelihood = self._likelihood()
            self.tod_likelihood.learn(tod)

    def _likelihood(self) -> AnomalyLikelihood:
        return AnomalyLikelihood(self.p.history, self.p.average, min_fit=self.p.min_fit)

    def skip_value(self, value: float, ts_ms: int) -> None:
        """A flagged reading: follow it (range, previous bin, run) but learn no pattern from it."""
        self._count_record(value)
        self._after(self._scored(value, ts_ms))
        self.prev_bin = self._bin(value)
        self._track_run(value)

    def _count_record(self, value: float) -> None:
        if self.n >= self.p.silent and self._spatial(value):
            self._forget()  # the novelty score depends on the count of records
            self.records += 1

    def _after(self, score: float) -> None:
        if score >= self.default_threshold:
            self.quiet = self.p.refractory
        elif self.quiet > 0:
            self.quiet -= 1

    def _track_run(self, value: float) -> None:
        if self.last is not None and value == self.last:
            self.run += 1
        else:
            if self.last is not None and self.run >= self.longest:
                self.longest, self.longest_age = self.run, 0
            self.run = 1
        self.last = value
        self.longest_age += 1
        if self.p.stuck_memory and self.longest_age >= self.p.stuck_memory:
            # Forget a long run slowly: one old stuck episode must not hide the next forever.
            self.longest, self.longest_age = max(1, self.longest // 2), 0

    def _learn_slot(self, value: float, ts_ms: int) -> None:
        if self.p.day_slots <= 0:
            return
        if self.first_ts is None:
            self.first_ts = ts_ms
        s, k, day = self._slot(ts_ms), self.p.day_slots, self.day
        if day[2 * k + s] == 0:
            day[s] = value
        else:
            err = value - day[s]
            day[s] += self.p.slot_alpha * err
            day[k + s] += self.p.slot_alpha * (abs(err) - day[k + s])
        day[2 * k + s] += 1

    def _count(self, a: int, b: int) -> None:
        key = a * SPAN + b
        counts, totals = self.counts, self.totals
        if counts is None or totals is None:
            counts, totals = self.counts, self.totals = {}, {}
        elif key not in counts and len(counts) >= self.p.max_transitions:
            counts, totals = self._decay(counts)
        counts[key] = counts.get(key, 0.0) + 1.0
        totals[a] = totals.get(a, 0.0) + 1.0

    def _decay(self, counts: dict[int, float]) -> tuple[dict[int, float], dict[int, float]]:
        """Halve every count and keep the stronger half of the transitions (also set on the
        detector)."""
        self.counts, self.totals = decayed(counts, self.p.max_transitions // 2)
        return self.counts, self.totals

    def expected_range(self) -> tuple[float, float] | None:
        """The seen range widened by the tolerance (or the noise margin, if wider)."""
        if self.n < 2:
            return None
        margin = (self.high - self.low) * self.p.tolerance
        return (self.low - margin, self.high + margin)


#: Each parameter's name and default, in the constructor's order.
_DEFAULTS = tuple(zip(SentinelDetector.__init__.__code__.co_varnames[1:21],
                      SentinelDetector.__init__.__defaults__ or (), strict=True))
expose(SentinelDetector, tuple(name for name, _ in _DEFAULTS))


def _check(ok: bool, what: str) -> None:
    if not ok:
        raise ValueError(f"sentinel: {what}")
