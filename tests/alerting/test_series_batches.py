"""A batch held per series (the lean ingest path) is recorded and grouped exactly as the same
readings one by one: the same stream registry, volume and SLA counts, and the same per-stream
arrays for the threshold rules."""

from __future__ import annotations

import random

import numpy as np
import pytest
from sqlalchemy import select

from cloud.alerting.core.clock import ManualClock
from cloud.alerting.core.listener import IngestedReading
from cloud.alerting.evaluator import _Batch
from cloud.alerting.monitors.tables import schema_changes, sla_buckets, stream_stats
from cloud.alerting.monitors.tables import volume_buckets as t_volume
from ingest_protocol.columns import Series
from tests.alerting.harness import T0, Cloud


def _readings(n: int, seed: int) -> list[IngestedReading]:
    """Readings with one timestamp per stream each (no ties: grouping order cannot matter)."""
    rnd = random.Random(seed)
    stamps = list(range(n))
    rnd.shuffle(stamps)
    return [IngestedReading(f"d{rnd.randint(0, 5)}", rnd.choice(["t", "h"]),
                            T0 - 50_000 + stamps[i] * 10, float(rnd.uniform(-50, 50)),
                            rnd.choice([None, "a"]), rnd.choice([None, "Cel"]))
            for i in range(n)]


def _series(readings: list[IngestedReading]) -> list[Series]:
    out: dict[tuple, Series] = {}
    for i, r in enumerate(readings):
        s = out.setdefault((r.device, r.sensor, r.site, r.unit), Series(
            r.device, r.sensor, r.site, r.unit, [], [], [], [], []))
        s.ts.append(r.ts_ms)
        s.value.append(float(r.value))
        s.seq.append(i)
        s.quality.append(0)
        s.index.append(i)
    return list(out.values())


@pytest.mark.parametrize("seed", range(4))
def test_series_group_as_the_readings_do(seed):
    readings = _readings(300 + seed * 71, seed)
    got, want = _Batch((), _series(readings)), _Batch(readings)
    assert got.refs == want.refs and got.units == want.units
    for name in ("starts", "ends", "ts", "values"):
        assert np.array_equal(getattr(got, name), getattr(want, name)), name


def _tables(cloud: Cloud) -> dict[str, list[tuple]]:
    cloud.alerting.recorder.flush()
    with cloud.alerting.engine.connect() as conn:
        return {t.name: sorted(tuple(r) for r in conn.execute(select(t)))
                for t in (stream_stats, t_volume, sla_buckets)} | {
            "changes": sorted((r.device, r.sensor, r.change, r.detail)
                              for r in conn.execute(select(schema_changes)))}


def test_series_are_recorded_as_the_readings_are(tmp_path):
    batches = [_readings(200, seed) for seed in range(3)]
    with Cloud(tmp_path / "a", ManualClock(T0), record_flush_s=30) as a, \
            Cloud(tmp_path / "b", ManualClock(T0), record_flush_s=0) as b:
        for k, readings in enumerate(batches):
            a.alerting.recorder.record_series(_series(readings), [], T0 + k * 61_000)
            b.alerting.recorder.record(readings, [], T0 + k * 61_000)
            a.alerting.recorder.record_request(True, T0 + k * 61_000)
            b.alerting.recorder.record_request(True, T0 + k * 61_000)
        assert _tables(a) == _tables(b)
        tables = _tables(a)
        assert tables[stream_stats.name] and tables[t_volume.name] and tables["changes"]
