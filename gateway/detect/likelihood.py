"""Anomaly likelihood (Ahmad et al. 2017): how unusual a burst of raw scores is for this stream.

Not a detector itself: a post-processor that turns a stream of raw scores in [0, 1] into a
log-scaled tail probability, used by :class:`~gateway.detect.sentinel.SentinelDetector`.
"""

from __future__ import annotations

import math
from array import array

from gateway.detect.slots import restore

_LOG_FLOOR = math.log(1e-10)


class AnomalyLikelihood:
    """Short moving average of raw scores against a normal fitted to their recent history.

    The history is kept as sums, not values: the fit (every ``reestimate`` readings) needs only
    the mean and spread of the last ``history`` moving averages, so they are summed in blocks
    of ``block`` = gcd(``history``, ``reestimate``) readings, and a ring of the last
    ``history / block`` blocks' sums and sums of squares stands for the window (decision 96).
    A fit always falls on a block's end, so its window is exactly the last ``history``
    averages: 20 floats a likelihood at the defaults, where a ring of every average held 1,000.

    >>> lik = AnomalyLikelihood(history=200, average=5, reestimate=50, min_fit=50)
    >>> for i in range(400):
    ...     lik.learn(0.1 if i % 10 else 0.3)
    >>> lik.score(0.1) < 0.5 < lik.score(1.0, burst=1.0)
    True
    """

    # Two per sentinel stream: slots, not a per-instance dict (decision 74).
    __slots__ = ("average", "block", "blocks", "cur_n", "cur_sq", "cur_sum", "fitted", "history",
                 "mean", "min_fit", "n", "pos", "recent", "reestimate", "std")

    def __init__(
        self, history: int = 1000, average: int = 10, reestimate: int = 100, min_fit: int = 100
    ) -> None:
        self.history = history
        self.min_fit = min_fit
        self.average = average
        self.reestimate = reestimate
        self.recent = array("d")  # the last ``average`` raw scores
        self.block = math.gcd(history, reestimate)
        # Ring of complete blocks, [sum, sum of squares] each, oldest overwritten first.
        self.blocks = array("d")
        self.pos = 0  # next block to overwrite once the ring is full
        self.cur_sum = self.cur_sq = 0.0  # the block being filled
        self.cur_n = 0
        self.n = 0
        self.mean = 0.0
        self.std = 1.0
        self.fitted = False

    def __setstate__(self, state: object) -> None:
        if isinstance(state, tuple):  # (instance dict, slots), as pickle gives for slots
            state = {**(state[0] or {}), **(state[1] or {})}
        if not isinstance(state, dict):
            raise TypeError(f"anomaly likelihood: unexpected state {type(state).__name__}")
        state = dict(state)
        values = state.pop("avgs", None)  # saved before decision 96: a ring of every average
        restore(self, state)  # also state saved before the slots
        if values is not None:
            self._from_ring(values)

    def _from_ring(self, ring: array) -> None:
        """Blocks from the ring of averages older releases kept (``pos``: its oldest when full).

        The averages of the block being filled are the last ``n % block``; before them, whole
        blocks. The oldest block may have lost its start to the ring: it is left out, as the
        next fit (when the block being filled ends) would leave it out anyway.
        """
        values = list(ring[self.pos:]) + list(ring[:self.pos]) if len(ring) >= self.history \
            else list(ring)
        self.block = math.gcd(self.history, self.reestimate)
        filling = self.n % self.block
        whole = values[:len(values) - filling]
        whole = whole[len(whole) % self.block:]
        self.blocks = array("d")
        for i in range(0, len(whole), self.block):
            chunk = whole[i:i + self.block]
            self.blocks.extend((sum(chunk), sum(a * a for a in chunk)))
        self.pos = 0
        tail = values[len(values) - filling:] if filling else []
        self.cur_sum, self.cur_sq, self.cur_n = sum(tail), sum(a * a for a in tail), filling

    def score(self, raw: float, burst: float | None = None) -> float:
        """Log-scaled likelihood in [0, 1] of ``raw`` arriving now (0 until the first fit).

        ``burst`` replaces the moving average (e.g. to score a single reading on its own).
        """
        if not self.fitted:
            return 0.0
        if burst is None:
            tail = self.recent[len(self.recent) - self.average + 1 :] if self.average > 1 else []
            burst = (sum(tail) + raw) / (len(tail) + 1)
        z = (burst - self.mean) / self.std
        tail_p = 0.5 * math.erfc(z / math.sqrt(2.0))
        return min(1.0, math.log(max(tail_p, 1e-10)) / _LOG_FLOOR)

    def learn(self, raw: float) -> None:
        """Add a raw score to the history; refit every ``reestimate`` readings."""
        recent = self.recent
        recent.append(raw)
        if len(recent) > self.average:
            del recent[0]
        avg = sum(recent) / len(recent)
        self.cur_sum += avg
        self.cur_sq += avg * avg
        self.cur_n += 1
        if self.cur_n == self.block:
            self._close_block()
        self.n += 1
        if self.n % self.reestimate == 0 and self._count() >= self.min_fit:
            self._fit()

    def _close_block(self) -> None:
        if len(self.blocks) == 2 * (self.history // self.block):  # the ring is full
            self.blocks[self.pos] = self.cur_sum
            self.blocks[self.pos + 1] = self.cur_sq
            self.pos = (self.pos + 2) % len(self.blocks)
        else:
            self.blocks.extend((self.cur_sum, self.cur_sq))
        self.cur_sum = self.cur_sq = 0.0
        self.cur_n = 0

    def _count(self) -> int:
        """Averages in the window: every complete block's (a fit falls on a block's end)."""
        return len(self.blocks) // 2 * self.block

    def _fit(self) -> None:
        k = self._count()
        blocks = self.blocks
        mean = sum(blocks[0::2]) / k
        var = sum(blocks[1::2]) / k - mean * mean
        # Floors as in Numenta's implementation: a perfectly quiet history must not make
        # every small wobble look impossible.
        self.mean = max(mean, 0.03)
        self.std = math.sqrt(max(var, 0.0003))
        self.fitted = True
