"""The anomaly likelihood's history in block sums (decision 96) fits exactly what a window of
every average gives, holds a fixed few floats whatever it has learned, and takes over the
ring of averages older releases saved."""

from __future__ import annotations

import math
import pickle
import random
from array import array

import pytest

from gateway.detect.likelihood import AnomalyLikelihood


class Reference:
    """The textbook rule: the last ``history`` moving averages, refit every ``reestimate``."""

    def __init__(self, history: int, average: int, reestimate: int, min_fit: int) -> None:
        self.history, self.average, self.reestimate, self.min_fit = (
            history, average, reestimate, min_fit)
        self.recent: list[float] = []
        self.avgs: list[float] = []
        self.n = 0
        self.fit: tuple[float, float] | None = None

    def learn(self, raw: float) -> None:
        self.recent = [*self.recent, raw][-self.average:]
        self.avgs = [*self.avgs, sum(self.recent) / len(self.recent)][-self.history:]
        self.n += 1
        if len(self.avgs) >= self.min_fit and self.n % self.reestimate == 0:
            mean = sum(self.avgs) / len(self.avgs)
            var = sum((a - mean) ** 2 for a in self.avgs) / len(self.avgs)
            self.fit = (max(mean, 0.03), math.sqrt(max(var, 0.0003)))


def _raw(rng: random.Random, i: int) -> float:
    # Mostly quiet, bursts now and then, a change of habit halfway.
    base = 0.1 if i < 1500 else 0.25
    return min(1.0, base + rng.random() * 0.2 + (0.6 if rng.random() < 0.02 else 0.0))


@pytest.mark.parametrize(("history", "average", "reestimate", "min_fit"), [
    (1000, 10, 100, 200),  # the sentinel's
    (1000, 1, 100, 100),  # the calibrations of hst, predictive and the ensemble
    (250, 3, 100, 60),  # a block (50) smaller than the refit period
    (30, 2, 7, 10),  # a block of one
])
def test_every_fit_matches_the_window_of_every_average(
        history: int, average: int, reestimate: int, min_fit: int) -> None:
    rng = random.Random(history * 31 + reestimate)
    lik = AnomalyLikelihood(history, average, reestimate, min_fit)
    ref = Reference(history, average, reestimate, min_fit)
    fits = 0
    for i in range(3000):
        raw = _raw(rng, i)
        lik.learn(raw)
        ref.learn(raw)
        assert lik.fitted == (ref.fit is not None)
        if ref.fit is not None:
            fits += 1
            assert (lik.mean, lik.std) == pytest.approx(ref.fit, rel=1e-9)
    assert fits > 0
    # What it holds: the ring of blocks and the block being filled, never the averages.
    assert len(lik.blocks) == 2 * history // math.gcd(history, reestimate)
    assert not hasattr(lik, "__dict__")


def test_the_sentinels_likelihood_holds_twenty_floats_of_history() -> None:
    lik = AnomalyLikelihood(history=1000, average=10, min_fit=200)
    for i in range(20_000):
        lik.learn((i % 17) / 17)
    assert len(lik.blocks) == 20 and lik.blocks.itemsize == 8
    assert len(lik.recent) == 10


def _old_state(ref: Reference, pos_shift: int) -> dict[str, object]:
    """What a release before decision 96 pickled: a float32 ring of the averages."""
    ordered = ref.avgs
    full = len(ordered) >= ref.history
    pos = pos_shift % ref.history if full else 0
    ring = ordered[len(ordered) - pos:] + ordered[:len(ordered) - pos] if full else ordered
    mean, std = ref.fit if ref.fit is not None else (0.0, 1.0)
    return {"history": ref.history, "min_fit": ref.min_fit, "average": ref.average,
            "reestimate": ref.reestimate, "recent": array("d", ref.recent),
            "avgs": array("f", ring), "pos": pos, "n": ref.n, "mean": mean, "std": std,
            "fitted": ref.fit is not None}


@pytest.mark.parametrize("learned", [150, 1000, 1050, 2999, 3000])
def test_a_saved_ring_of_averages_restores_and_fits_as_the_window_would(learned: int) -> None:
    rng = random.Random(learned)
    ref = Reference(1000, 10, 100, 200)
    for i in range(learned):
        ref.learn(_raw(rng, i))
    old = AnomalyLikelihood.__new__(AnomalyLikelihood)
    old.__setstate__((None, _old_state(ref, pos_shift=learned)))
    lik = pickle.loads(pickle.dumps(old))
    assert lik.fitted == (ref.fit is not None)
    for i in range(learned, learned + 1200):
        raw = _raw(rng, i)
        lik.learn(raw)
        ref.learn(raw)
        if ref.fit is not None:  # float32 averages before, float64 sums after
            assert (lik.mean, lik.std) == pytest.approx(ref.fit, rel=1e-6)
    assert len(lik.blocks) == 20


def test_state_that_is_not_a_likelihoods_is_refused() -> None:
    lik = AnomalyLikelihood.__new__(AnomalyLikelihood)
    with pytest.raises(TypeError, match="anomaly likelihood"):
        lik.__setstate__([1, 2, 3])
