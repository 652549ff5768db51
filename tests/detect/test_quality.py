"""Detection quality of the default detector on synthetic faults and on NAB's quiet series.

Floors are stated here and set below what the detector measured when they were written
(spikes 30/30, drifts 10/10, stuck 10/10, 0 false alarms in 40,000 readings, seeds 0-9),
so they catch regressions, not noise.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from gateway.detect import DEFAULT_DETECTOR, DetectSettings, StreamState, create_detector
from tests.detect.synthetic import found, sensor_series

NAB = Path(__file__).resolve().parents[2] / "bench" / "data" / "nab" / "data"
SEEDS = range(10)
RECALL_FLOOR = {"spike": 0.9, "drift": 0.8, "stuck": 0.9}


def _flags(values, ts) -> np.ndarray:
    policy = DetectSettings().policy()
    state = StreamState(create_detector(DEFAULT_DETECTOR))
    return np.array(
        [state.step(float(v), int(t), policy)[1] for v, t in zip(values, ts, strict=True)]
    )


@pytest.fixture(scope="module")
def outcomes() -> dict[str, list[bool]]:
    hits: dict[str, list[bool]] = {}
    false_alarms = 0
    for seed in SEEDS:
        series = sensor_series(seed)
        flags = _flags(series.values, series.ts_ms)
        near = np.zeros(len(flags), dtype=bool)
        for anomaly in series.anomalies:
            hits.setdefault(anomaly.kind, []).append(found(flags, anomaly))
            near[anomaly.start : anomaly.start + 400] = True
        false_alarms += int((flags & ~near).sum())
    hits["_false_alarms"] = [False] * false_alarms
    return hits


@pytest.mark.parametrize("kind", sorted(RECALL_FLOOR))
def test_injected_faults_are_found(outcomes: dict[str, list[bool]], kind: str):
    recall = sum(outcomes[kind]) / len(outcomes[kind])
    assert recall >= RECALL_FLOOR[kind], f"{kind} recall {recall:.2f}"


def test_few_false_alarms_on_normal_stretches(outcomes: dict[str, list[bool]]):
    readings = 4000 * len(SEEDS)
    assert len(outcomes["_false_alarms"]) <= 0.002 * readings


@pytest.mark.parametrize(
    "name",
    [
        "art_daily_no_noise.csv",
        "art_daily_perfect_square_wave.csv",
        "art_daily_small_noise.csv",
        "art_flatline.csv",
        "art_noisy.csv",
    ],
)
def test_nab_series_without_anomalies_raise_few_events(name: str):
    with (NAB / "artificialNoAnomaly" / name).open(newline="") as fh:
        rows = list(csv.DictReader(fh))[:2500]
    values = [float(r["value"]) for r in rows]
    ts = [300_000 * i for i in range(len(values))]
    assert int(_flags(values, ts).sum()) <= 2


def test_default_detector_state_stays_under_20_kb_on_a_wandering_stream():
    import pickle

    rng = np.random.default_rng(0)
    det = create_detector(DEFAULT_DETECTOR)
    walk = np.cumsum(rng.normal(0.0, 1.0, 20_000))
    for i, v in enumerate(walk):
        det.learn_value(float(v), i * 60_000)
    assert len(pickle.dumps(det, protocol=pickle.HIGHEST_PROTOCOL)) <= 20 * 1024
