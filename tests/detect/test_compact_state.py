"""The sentinel's compact per-stream state (decision 74) scores as before, and state saved by
the release before it (a plain instance dict, lists for the time-of-day slots, a ring of every
likelihood average) still restores with its learning: the same flags, the same scores (to
rounding: since decision 96 a likelihood sums its history in blocks rather than keeping it)."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

from gateway.detect.likelihood import AnomalyLikelihood
from gateway.detect.registry import create_detector
from gateway.detect.sentinel import SentinelDetector
from gateway.detect.settings import DetectSettings
from gateway.detect.stream import StreamState
from tests.detect.fixtures.make_sentinel_state import STEP_MS, T0, value

FIXTURES = Path(__file__).parent / "fixtures"


def _expected() -> list[list[float | bool]]:
    return json.loads((FIXTURES / "sentinel-state-v8-dict.scores.json").read_text())


def _same(got: list[list[float | bool]], want: list[list[float | bool]]) -> bool:
    """The same flags; scores equal to rounding (the release before kept float32 averages)."""
    return len(got) == len(want) and all(
        g[1] == w[1] and g[0] == pytest.approx(w[0], rel=1e-6, abs=1e-9)
        for g, w in zip(got, want, strict=True))


def _continue(state: StreamState) -> list[list[float | bool]]:
    policy = DetectSettings().policy()
    return [list(state.step(value(i), T0 + i * STEP_MS, policy)) for i in range(3000, 3400)]


def test_state_saved_before_the_slots_restores_and_scores_identically() -> None:
    state = pickle.loads((FIXTURES / "sentinel-state-v8-dict.pickle").read_bytes())
    det = state.detector
    assert isinstance(det, SentinelDetector)
    assert det.__dict__ == {}  # every attribute went into a slot
    assert len(det.day) == 3 * det.day_slots
    assert _same(_continue(state), _expected())


def test_todays_code_scores_the_fixture_stream_exactly_as_the_release_before() -> None:
    policy = DetectSettings().policy()
    state = StreamState(create_detector("sentinel"))
    for i in range(3000):
        state.step(value(i), T0 + i * STEP_MS, policy)
    assert _same(_continue(state), _expected())
    again = pickle.loads(pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL))
    assert again.detector.__dict__ == {}


def test_no_per_stream_attribute_falls_outside_the_slots() -> None:
    """An attribute added without a slot would land in an instance dict, ~1.6 KB a stream."""
    det = SentinelDetector(calibrate=20, silent=20, min_fit=2, history=10)
    for i in range(3 * 24 * 12 + 50):
        det.learn_value(float(i % 17), i * 300_000)
        det.score_value(100.0, i * 300_000)
    det.skip_value(-5.0, 0)
    assert det.__dict__ == {}
    assert not hasattr(AnomalyLikelihood(), "__dict__")


def test_a_young_stream_holds_no_likelihood_nor_transition_table_until_it_uses_them() -> None:
    """Decision 83: before calibration a stream pays for none of them, and scores as before."""
    det = SentinelDetector()
    for i in range(det.calibrate - 1):  # the last calibrating reading learns the first
        det.learn_value(10.0 + i % 7, i * 300_000)
        assert det.seq_likelihood is None and det.counts is None and det.totals is None
    for i in range(det.calibrate - 1, det.calibrate + 5):
        det.learn_value(10.0 + i % 7, i * 300_000)
    assert det.seq_likelihood is not None and det.counts is not None
    assert det.tod_likelihood is None  # learns only once two days are in (25 hours here)
    state = StreamState(create_detector("sentinel"))
    assert state.run is None


def test_streams_share_their_parameters_and_save_each_under_its_own_name() -> None:
    """Decision 83: one parameter record for every stream with the same parameters; state
    files keep the layout they had (each parameter by name), so they load either way."""
    a, b = SentinelDetector(), SentinelDetector()
    assert a.p is b.p
    assert SentinelDetector(stuck_factor=3).p is not a.p  # equal to 3.0, yet another value
    saved = a.__getstate__()
    assert "p" not in saved
    assert {k: saved[k] for k in a.p.names()} == a._get_params()
    again = pickle.loads(pickle.dumps(a, protocol=pickle.HIGHEST_PROTOCOL))
    assert again.p is a.p and again.__dict__ == {}
