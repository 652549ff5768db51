"""The sentinel detector's per-stream state stays bounded on a drifting stream (soak finding:
its transition table grew for the whole 10-minute soak; it must stop at ``max_transitions``)."""

from __future__ import annotations

import math

from gateway.detect.sentinel import SentinelDetector
from gateway.detect.transitions import BIN_LIMIT, SPAN, source


def _drifting(n: int) -> list[float]:
    # A slow random-walk-like drift far outside the calibrated range: new bins all the time.
    return [i * 0.05 + 3.0 * math.sin(i / 7.0) for i in range(n)]


def test_transition_table_never_exceeds_its_cap_and_totals_match():
    det = SentinelDetector(max_transitions=64)
    sizes = []
    for i, v in enumerate(_drifting(20_000)):
        det.learn_value(v, i * 100)
        sizes.append(len(det.counts or {}))  # None until the first transition (decision 83)
    assert det.counts is not None and det.totals is not None
    assert max(sizes) <= 64
    assert len(set(sizes[-5000:])) > 1  # it keeps learning (decays and refills), within the cap
    totals: dict[int, float] = {}
    for key, c in det.counts.items():
        totals[source(key)] = totals.get(source(key), 0.0) + c
    # Between decays totals also count transitions added since; never less than the table.
    assert all(det.totals[a] >= c - 1e-9 for a, c in totals.items())


def test_transition_keys_round_trip_their_source_bin():
    for a in (-BIN_LIMIT, -3, 0, 9, BIN_LIMIT):
        for b in (-BIN_LIMIT, -1, 0, 11, BIN_LIMIT):
            assert source(a * SPAN + b) == a


def test_absurd_values_clamp_to_the_bin_limit():
    det = SentinelDetector(calibrate=2, silent=0, bins=10)
    det.learn_value(0.0, 0)
    det.learn_value(1.0, 1)
    assert det._bin(1e300) == BIN_LIMIT
    assert det._bin(-1e300) == -BIN_LIMIT
    det.learn_value(1e300, 2)  # counted without overflowing the key space
    assert det.counts is not None
    assert all(source(k) in (-BIN_LIMIT, 0, 1, 10, BIN_LIMIT) for k in det.counts)
