"""Every registered detector honours the same contract (parametrised over the registry)."""

from __future__ import annotations

import csv
import math
import pickle
from pathlib import Path

import numpy as np
import pytest

from gateway.detect import (
    BaseDetector,
    Detector,
    DetectSettings,
    StreamState,
    UnknownDetector,
    create_detector,
    detector_class,
    detector_names,
)
from tests.detect.synthetic import sensor_series

NAB = Path(__file__).resolve().parents[2] / "bench" / "data" / "nab" / "data"
NAMES = detector_names()


def _nab_slice(name: str, rows: int) -> list[float]:
    with (NAB / name).open(newline="") as fh:
        return [float(r["value"]) for _, r in zip(range(rows), csv.DictReader(fh), strict=False)]


def _series() -> tuple[list[float], list[int]]:
    synth = sensor_series(3)
    values = [float(v) for v in synth.values[:2000]] + _nab_slice("realTraffic/speed_6005.csv", 500)
    ts = [int(t) for t in synth.ts_ms[:2000]]
    ts += [ts[-1] + 300_000 * (i + 1) for i in range(500)]
    return values, ts


VALUES, TS = _series()


def _run(state: StreamState, values, ts, threshold: float) -> list[float]:
    policy = DetectSettings(detector=type(state.detector).name, threshold=threshold).policy()
    return [state.step(v, t, policy)[0] for v, t in zip(values, ts, strict=True)]


@pytest.mark.parametrize("name", NAMES)
def test_is_a_detector_with_registry_metadata(name: str):
    det = create_detector(name)
    assert isinstance(det, Detector) and isinstance(det, BaseDetector)
    cls = detector_class(name)
    assert cls.name == name
    assert 0.0 <= cls.default_threshold <= 1.0
    assert isinstance(cls.state_version, int)


@pytest.mark.parametrize("name", NAMES)
def test_scores_are_in_unit_interval_and_same_seed_gives_same_scores(name: str):
    threshold = detector_class(name).default_threshold
    first = _run(StreamState(create_detector(name)), VALUES, TS, threshold)
    second = _run(StreamState(create_detector(name)), VALUES, TS, threshold)
    assert first == second
    assert all(0.0 <= s <= 1.0 and math.isfinite(s) for s in first)


@pytest.mark.parametrize("name", NAMES)
def test_pickle_round_trip_mid_stream_gives_identical_later_scores(name: str):
    threshold = detector_class(name).default_threshold
    cut = 1200
    state = StreamState(create_detector(name))
    _run(state, VALUES[:cut], TS[:cut], threshold)
    clone = pickle.loads(pickle.dumps(state))
    later = _run(state, VALUES[cut:], TS[cut:], threshold)
    assert _run(clone, VALUES[cut:], TS[cut:], threshold) == later


@pytest.mark.parametrize("name", NAMES)
def test_score_one_does_not_change_the_model(name: str):
    det = create_detector(name)
    for v, t in zip(VALUES[:800], TS[:800], strict=True):
        det.learn_value(v, t)
    before = pickle.dumps(det)
    for v in (1e9, -1e9, 0.0, VALUES[800]):
        det.score_value(v, TS[800])
    assert pickle.dumps(det) == before


@pytest.mark.parametrize("name", NAMES)
def test_constant_and_non_finite_input_never_crash(name: str):
    state = StreamState(create_detector(name))
    policy = DetectSettings(detector=name).policy()
    scores = [state.step(5.0, i * 1000, policy)[0] for i in range(300)]
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert state.step(math.nan, 300_000, policy) == (1.0, True)
    assert state.step(math.inf, 301_000, policy)[0] == 1.0
    expected = state.detector.expected_range()
    assert expected is None or expected[0] <= expected[1]


def test_seeded_detector_depends_on_its_seed():
    a = _run(StreamState(create_detector("hst", seed=1)), VALUES[:600], TS[:600], 0.85)
    b = _run(StreamState(create_detector("hst", seed=2)), VALUES[:600], TS[:600], 0.85)
    assert a != b


def test_unknown_detector_names_the_choices():
    with pytest.raises(UnknownDetector, match="choose one of"):
        create_detector("nope")


def test_np_floats_are_accepted():
    det = create_detector("sentinel")
    det.learn_value(np.float64(1.5), 0)
    assert 0.0 <= det.score_value(np.float64(2.5), 1000) <= 1.0
