"""One contract, every store: the same tests run on SQLite and on a real InfluxDB."""

from __future__ import annotations

import numpy as np
import pytest

from cloud.store import AnomalyPoint, Point
from cloud.store.aggregate import percentile_index

T0 = 1_699_999_200_000  # 2023-11-14T22:00:00Z, a whole hour
HOSTILE = [
    'q"uote', "it's", "back\\slash", "two\\\\back", "semi;colon'; DROP MEASUREMENT readings; --",
    "space name", "comma,eq=x", "温度°C", "emoji🔥", "\\'\\\"", "slash/and?query=1&x",
]


def _points(device: str, sensor: str, values: np.ndarray, step_ms: int = 1000) -> list[Point]:
    return [Point(device, sensor, T0 + i * step_ms, float(v), seq=i)
            for i, v in enumerate(values)]


def _numpy_aggs(ts: np.ndarray, vals: np.ndarray, every: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {k: [] for k in ("t", "mean", "min", "max", "count", "last",
                                                     "p95")}
    for b in np.unique(ts - ts % every):
        sel = vals[(ts >= b) & (ts < b + every)]
        out["t"].append(int(b))
        out["mean"].append(float(np.mean(sel)))
        out["min"].append(float(np.min(sel)))
        out["max"].append(float(np.max(sel)))
        out["count"].append(float(sel.size))
        out["last"].append(float(sel[-1]))
        out["p95"].append(float(np.sort(sel)[percentile_index(sel.size)]))
    return out


def test_aggregates_match_numpy(store):
    rng = np.random.default_rng(7)
    vals = rng.normal(20, 5, 1000).round(3)
    ts = T0 + 7_000 + np.arange(1000) * 997  # irregular against the bucket grid
    store.write([Point("d", "s", int(t), float(v), seq=i)
                 for i, (t, v) in enumerate(zip(ts, vals, strict=True))], [])
    aggs = ["mean", "min", "max", "count", "last", "p95"]
    got = store.series("d", "s", T0, T0 + 2_000_000, 60_000, aggs)
    want = _numpy_aggs(ts, vals, 60_000)
    assert got.t == want["t"]
    for a in aggs:
        assert got.columns[a] == pytest.approx(want[a], rel=1e-9), a
    # A sub-range only sees its own points.
    part = store.series("d", "s", T0 + 120_000, T0 + 180_000, 60_000, ["count"])
    assert part.columns["count"] == [float(((ts >= T0 + 120_000) & (ts < T0 + 180_000)).sum())]


def test_rewriting_the_same_points_is_harmless(store):
    pts = _points("d", "s", np.arange(100.0))
    assert store.write(pts, []).rejected == []
    assert store.write(pts, []).rejected == []
    res = store.series("d", "s", T0, T0 + 100_000, 1_000_000, ["count", "mean"])
    assert res.columns == {"count": [100.0], "mean": [49.5]}


def test_hostile_names_round_trip(store):
    for i, name in enumerate(HOSTILE):
        store.write(_points(name, name, np.full(i + 1, float(i))),
                    [AnomalyPoint(name, name, T0, 1.0, 0.5, name, site=name)])
    for i, name in enumerate(HOSTILE):
        res = store.series(name, name, T0, T0 + 3_600_000, 3_600_000, ["count", "mean"])
        assert res.columns == {"count": [float(i + 1)], "mean": [float(i)]}, name
        (a,) = store.anomalies(name, name, T0, T0 + 1, 10)
        assert (a.device, a.sensor, a.detector, a.site) == (name, name, name, name)
    # Every name is its own series; the injection attempt dropped nothing.
    assert len(store.anomalies(None, None, T0, T0 + 1, 100)) == len(HOSTILE)


def test_anomalies_filter_order_and_limit(store):
    anomalies = [
        AnomalyPoint("d1", "t", T0 + 2000, 9.0, 0.9, "hst", 1.0, 2.0, "s1"),
        AnomalyPoint("d1", "t", T0 + 1000, 8.0, 0.8, "zscore"),
        AnomalyPoint("d2", "t", T0 + 1500, 7.0, 0.7, "hst", None, 3.5),
    ]
    assert store.write([], anomalies).anomalies_rejected == []
    got = store.anomalies(None, None, T0, T0 + 10_000, 100)
    assert [a.ts_ms for a in got] == [T0 + 1000, T0 + 1500, T0 + 2000]
    assert got[2] == anomalies[0]
    assert got[1].expected_low is None and got[1].expected_high == 3.5
    assert [a.device for a in store.anomalies("d1", "t", T0, T0 + 10_000, 100)] == ["d1", "d1"]
    assert len(store.anomalies(None, None, T0, T0 + 10_000, 2)) == 2
    assert store.anomalies("d1", None, T0 + 1001, T0 + 1999, 10) == []


def test_empty_ranges_and_unknown_series(store):
    store.ping()
    assert store.series("nobody", "nothing", T0, T0 + 1000, 1000, ["mean"]).t == []
    store.write(_points("d", "s", np.ones(5)), [])
    assert store.series("d", "s", T0 - 10_000, T0, 1000, ["mean", "p95"]).t == []


def test_names_no_store_can_carry_are_rejected_alone(store):
    bad = ["trail\\", "a\\,b", "a\\ b", "new\nline", ""]
    pts = [Point(n or "d", "s" if n else "", T0 + i, 1.0) for i, n in enumerate(bad)]
    pts.append(Point("good", "s", T0, 2.0))
    res = store.write(pts, [AnomalyPoint("d", "s", T0, 1.0, 1.0, "det\\")])
    assert [r.index for r in res.rejected] == list(range(len(bad)))
    assert {r.code for r in res.rejected} == {"bad_name"}
    assert [r.index for r in res.anomalies_rejected] == [0]
    assert store.series("good", "s", T0, T0 + 1, 1000, ["last"]).columns == {"last": [2.0]}
