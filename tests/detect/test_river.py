"""Every detector is a River anomaly detector, and survives the gateway's policy.

River's protocol (``learn_one``/``score_one`` on feature dicts, ``clone``, pipelines with a
preprocessing step, River's anomaly filters), the same model through the gateway's float path,
a bounded reaction to a level shift under the policy, and the per-device detector's contract.
"""

from __future__ import annotations

import pickle
import random

import numpy as np
import pytest
from river import anomaly, compose, preprocessing
from river import base as river_base

from gateway.detect import (
    DetectSettings,
    StreamState,
    create_detector,
    detector_class,
    detector_names,
)
from gateway.detect.device import DeviceState, MahalanobisDetector
from tests.detect.synthetic import sensor_series

NAMES = detector_names()
SERIES = sensor_series(5)
VALUES = [float(v) for v in SERIES.values[:1500]]
TS = [int(t) for t in SERIES.ts_ms[:1500]]
#: Detectors that answer to a level shift at all (range and flatline are rules about other things).
SHIFT_NAMES = [n for n in NAMES if n not in ("range", "flatline")]


@pytest.mark.parametrize("name", NAMES)
def test_is_a_river_anomaly_detector_that_clones(name: str):
    det = create_detector(name)
    assert isinstance(det, river_base.AnomalyDetector)
    twin = det.clone()
    assert type(twin) is type(det) and twin._get_params() == det._get_params()
    assert name in repr(det).lower() or type(det).__name__ in repr(det)


@pytest.mark.parametrize("name", NAMES)
def test_dict_protocol_and_float_path_are_one_model(name: str):
    river_way, gateway_way = create_detector(name), create_detector(name)
    a, b = [], []
    for v, t in zip(VALUES, TS, strict=True):
        a.append(river_way.score_one({"value": v, "t": t}))
        river_way.learn_one({"value": v, "t": t})
        b.append(gateway_way.score_value(v, t))
        gateway_way.learn_value(v, t)
    assert a == b


@pytest.mark.parametrize("name", NAMES)
def test_works_in_a_river_pipeline_with_a_preprocessing_step(name: str):
    model = compose.Select("value") | preprocessing.StandardScaler() | create_detector(name)
    scores = []
    for v in VALUES:
        scores.append(model.score_one({"value": v, "other": 1.0}))
        model.learn_one({"value": v, "other": 1.0})
    assert all(0.0 <= s <= 1.0 for s in scores)


@pytest.mark.parametrize("name", NAMES)
def test_works_under_rivers_quantile_filter(name: str):
    model = anomaly.QuantileFilter(create_detector(name), q=0.99)
    for v, t in zip(VALUES, TS, strict=True):
        score = model.score_one({"value": v, "t": t})
        model.learn_one({"value": v, "t": t})
        assert 0.0 <= score <= 1.0


@pytest.mark.parametrize("name", SHIFT_NAMES)
def test_a_level_shift_stops_alarming_after_a_bounded_number_of_readings(name: str):
    policy = DetectSettings(detector=name).policy()
    state = StreamState(create_detector(name))
    rng = np.random.default_rng(0)
    for i in range(1500):
        state.step(float(rng.normal(10.0, 1.0)), i * 60_000, policy)
    flags = [state.step(float(rng.normal(60.0, 1.0)), (1500 + i) * 60_000, policy)[1]
             for i in range(2000)]
    assert sum(flags[:1000]) <= 4 * policy.relearn_after
    assert sum(flags[-1000:]) <= 20  # at most noise-level alarms once the shift is learned


@pytest.mark.parametrize("members", ["sentinel+jump", "sentinel+gaussian", "sentinel+sad"])
@pytest.mark.parametrize("combine", ["max", "mean"])
def test_ensembles_pickle_mid_stream_and_repeat(members: str, combine: str):
    policy = DetectSettings(detector="ensemble").policy()

    def run(state: StreamState, lo: int, hi: int) -> list[float]:
        return [state.step(VALUES[i], TS[i], policy)[0] for i in range(lo, hi)]

    state = StreamState(create_detector("ensemble", members=members, combine=combine))
    run(state, 0, 700)
    copy = pickle.loads(pickle.dumps(state))
    assert run(state, 700, 1500) == run(copy, 700, 1500)


def test_ensemble_rejects_bad_members():
    with pytest.raises(ValueError, match="two or more"):
        create_detector("ensemble", members="sentinel")
    with pytest.raises(ValueError, match="combine"):
        create_detector("ensemble", combine="median")


def _machine(n: int, seed: int, worn_from: int | None = None) -> list[dict[str, float]]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        load = 0.5 + 0.4 * np.sin(i / 200.0) + rng.gauss(0, 0.02)
        wear = 0.0 if worn_from is None or i < worn_from else (i - worn_from) / 300.0
        rows.append({"current": 10 * load + rng.gauss(0, 0.1),
                     "vibration": 2 * load + wear + rng.gauss(0, 0.05),
                     "temperature": 30 + 15 * load + rng.gauss(0, 0.2), "t": i * 60_000})
    return rows


def test_device_detector_finds_wear_names_its_sensors_and_pickles():
    policy = DetectSettings().policy()
    state = DeviceState(MahalanobisDetector())
    rows = _machine(3000, 1, worn_from=2500)
    healthy = [state.step(x, policy)[1] for x in rows[:1200]]
    copy = pickle.loads(pickle.dumps(state))
    rest = [state.step(x, policy) for x in rows[1200:]]
    assert [copy.step(x, policy) for x in rows[1200:]] == rest
    flags = healthy + [f for _, f in rest]
    assert sum(flags[:2500]) == 0
    first = flags.index(True)
    assert 2500 < first < 2700
    replay = DeviceState(MahalanobisDetector())
    for x in rows[:first]:
        replay.step(x, policy)
    assert "vibration" in replay.detector.contributors(rows[first])


def test_device_detector_same_seed_same_scores():
    a, b = MahalanobisDetector(), MahalanobisDetector()
    rows = _machine(800, 2)
    sa, sb = [], []
    for x in rows:
        sa.append(a.score_one(x))
        a.learn_one(x)
        sb.append(b.score_one(x))
        b.learn_one(x)
    assert sa == sb


#: The River models, which learn a flagged reading winsorised rather than not at all.
CLIP_NAMES = [n for n in NAMES if detector_class(n).learn_flagged == "clip"]


def _heavy_tailed_flags(name: str, n: int) -> tuple[StreamState, int]:
    policy = DetectSettings(detector=name).policy()
    state = StreamState(create_detector(name))
    rng = np.random.default_rng(2)
    flags = sum(state.step(float(v), i * 60_000, policy)[1]
                for i, v in enumerate(10.0 + rng.standard_t(2.5, n)))
    return state, flags


def test_the_river_models_learn_flagged_readings_winsorised():
    assert {"gaussian", "sad", "hst", "predictive"} <= set(CLIP_NAMES)
    assert detector_class("sentinel").learn_flagged == "skip"


@pytest.mark.parametrize("name", CLIP_NAMES)
def test_the_spread_does_not_collapse_after_a_burst_of_outliers(name: str):
    policy = DetectSettings(detector=name).policy()
    state, _ = _heavy_tailed_flags(name, 3000)
    t = 3000 * 60_000
    burst = [state.step(10.0 + 40.0 * (1 + k % 3), t + k * 60_000, policy)[1] for k in range(40)]
    # Still flagged (winsorising does not hide it), once per refractory period.
    assert burst[0] and sum(burst) == 2
    rng = np.random.default_rng(3)
    after = [state.step(float(v), t + (40 + i) * 60_000, policy)[1]
             for i, v in enumerate(10.0 + rng.standard_t(2.5, 1000))]
    assert sum(after) <= 20  # noise-level alarms: the model did not shrink onto the bulk
    assert state.detector.score_value(10.0, t + 1040 * 60_000) < policy.threshold / 2


@pytest.mark.parametrize("name", CLIP_NAMES)
def test_winsorising_flags_less_than_skipping_on_heavy_tailed_noise(
    name: str, monkeypatch: pytest.MonkeyPatch
):
    _, clipped = _heavy_tailed_flags(name, 4000)
    monkeypatch.setattr(detector_class(name), "learn_flagged", "skip")
    _, skipped = _heavy_tailed_flags(name, 4000)
    assert clipped <= skipped


def _spiky(name: str) -> tuple[StreamState, list[bool]]:
    policy = DetectSettings(detector=name).policy()
    state = StreamState(create_detector(name))
    rng = np.random.default_rng(4)
    values = 10.0 + rng.normal(0.0, 1.0, 3000)
    values[1500:1540] += 25.0  # an incident lasting 40 readings
    values[2000::97] += 15.0  # isolated spikes
    flags = [state.step(float(v), i * 60_000, policy)[1] for i, v in enumerate(values)]
    return state, flags


@pytest.mark.parametrize("name", CLIP_NAMES)
def test_the_refractory_period_changes_the_alarms_never_the_model(
    name: str, monkeypatch: pytest.MonkeyPatch
):
    assert detector_class(name).alarm_refractory > 0
    damped, damped_flags = _spiky(name)
    monkeypatch.setattr(detector_class(name), "alarm_refractory", 0)
    plain, plain_flags = _spiky(name)
    assert all(p for d, p in zip(damped_flags, plain_flags, strict=True) if d)  # a subset
    incident = slice(1500, 1540)
    assert sum(damped_flags[incident]) <= max(1, sum(plain_flags[incident]) // 2)
    probes = [(5.0 + 0.5 * k, 3000 * 60_000) for k in range(20)]
    assert ([damped.detector.score_value(*p) for p in probes]
            == [plain.detector.score_value(*p) for p in probes])
