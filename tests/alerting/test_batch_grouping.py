"""The evaluator's per-stream grouping of a batch: the numpy path groups exactly as the
reference loop does (streams in order of first appearance, time order, ties in arrival order)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from cloud.alerting.alerts.lifecycle import open_key
from cloud.alerting.core.listener import IngestedReading
from cloud.alerting.evaluator import _Batch


def _reference(readings) -> _Batch:
    batch = _Batch.__new__(_Batch)
    batch.refs, batch.units, batch._keys = [], [], {}
    batch._group_in_python(readings)
    batch.ends = np.append(batch.starts[1:], len(batch.ts)).astype(np.int64)
    return batch


def _readings(n: int, seed: int, with_bools: bool = False) -> list[IngestedReading]:
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        value = rnd.choice([rnd.uniform(-50, 50), rnd.randint(-3, 3)])
        if with_bools and rnd.random() < 0.2:
            value = rnd.random() < 0.5
        out.append(IngestedReading(
            f"d{rnd.randint(0, 6)}", rnd.choice(["t", "h"]), 1000 + rnd.randint(0, 40) * 10,
            value, rnd.choice([None, "a", "b"]), rnd.choice([None, "Cel", "K"])))
    return out


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("with_bools", [False, True])
def test_numpy_grouping_matches_the_reference(seed, with_bools):
    readings = _readings(400 + seed * 97, seed, with_bools)
    got = _Batch(readings)
    want = _reference(readings)
    assert got.refs == want.refs and got.units == want.units
    assert [got.key(i) for i in range(len(got.refs))] == [
        open_key("", ref) for ref in want.refs]
    for name in ("starts", "ends", "ts", "values"):
        assert np.array_equal(getattr(got, name), getattr(want, name)), name
    assert got.values.dtype == np.float64 and got.ts.dtype == np.int64


def test_an_empty_batch_has_no_streams():
    batch = _Batch([])
    assert batch.refs == [] and len(batch.ts) == 0 and batch.ends.tolist() == [0]
