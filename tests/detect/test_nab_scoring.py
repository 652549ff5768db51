"""The NAB scorer in bench/nab_scoring.py on small hand-made cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench.nab_scoring import (
    OUTSIDE,
    PROBATION,
    PROFILES,
    Profile,
    probation_length,
    row_weights,
    scaled_sigmoid,
    score_at,
    sweep,
)

STANDARD = PROFILES["standard"]
N = 100  # probation = 15 rows
WINDOW = (50, 59)  # ten rows


def _file(scores: dict[int, float], windows=(WINDOW,), n: int = N, profile: Profile = STANDARD):
    s = np.zeros(n)
    for i, v in scores.items():
        s[i] = v
    return s, row_weights(n, list(windows), profile)


def test_scaled_sigmoid_edges():
    assert scaled_sigmoid(-1.0) == pytest.approx(2 / (1 + math.exp(-5)) - 1)
    assert scaled_sigmoid(0.0) == pytest.approx(0.0)
    assert scaled_sigmoid(3.5) == -1.0


def test_probation_is_fifteen_percent_capped_at_750():
    assert probation_length(100) == 15
    assert probation_length(4032) == 604
    assert probation_length(20000) == 750


def test_row_weights_follow_the_method():
    scored = row_weights(N, [WINDOW], STANDARD)
    assert (scored.window[:15] == PROBATION).all()
    assert scored.window[20] == OUTSIDE and scored.weights[20] == pytest.approx(-0.11)
    assert scored.weights[50] == pytest.approx(1.0)  # left edge: full credit
    right = scaled_sigmoid(-1 / 10) / scaled_sigmoid(-1.0)
    assert scored.weights[59] == pytest.approx(right)
    # Just after the window a false positive costs almost nothing, far after it the full 0.11.
    assert -0.11 < scored.weights[60] < 0 and abs(scored.weights[60]) < 0.05
    assert scored.weights[99] == pytest.approx(-0.11)
    assert scored.n_windows == 1


def test_perfect_detection_scores_100_and_silence_scores_0():
    perfect = sweep([_file({50: 1.0})], STANDARD)
    assert perfect.normalised == pytest.approx(100.0)
    assert perfect.threshold == 1.0
    silent = sweep([_file({})], STANDARD)
    assert silent.normalised == 0.0 and math.isinf(silent.threshold)


def test_only_the_best_detection_in_a_window_counts():
    one = score_at([_file({55: 1.0})], STANDARD, 0.5)
    many = score_at([_file({55: 1.0, 56: 1.0, 57: 1.0, 58: 1.0})], STANDARD, 0.5)
    assert many.raw == pytest.approx(one.raw)
    earlier = score_at([_file({52: 1.0, 58: 1.0})], STANDARD, 0.5)
    assert earlier.raw > one.raw


def test_false_positives_cost_fp_weight_and_probation_is_free():
    base = score_at([_file({50: 1.0})], STANDARD, 0.5).raw
    with_fp = score_at([_file({50: 1.0, 20: 1.0})], STANDARD, 0.5).raw
    assert base - with_fp == pytest.approx(0.11)
    in_probation = score_at([_file({50: 1.0, 3: 1.0})], STANDARD, 0.5).raw
    assert in_probation == pytest.approx(base)
    low_fp = PROFILES["reward_low_FP_rate"]
    assert score_at([_file({50: 1.0, 20: 1.0}, profile=low_fp)], low_fp, 0.5).raw == (
        pytest.approx(1.0 - 0.22)
    )


def test_missed_window_costs_fn_weight():
    low_fn = PROFILES["reward_low_FN_rate"]
    result = score_at([_file({}, profile=low_fn)], low_fn, 0.5)
    assert result.raw == pytest.approx(-2.0) and result.null == pytest.approx(-2.0)
    assert result.normalised == 0.0


def test_optimised_threshold_excludes_a_higher_scored_false_positive_when_it_pays():
    # The FP at 0.9 costs 0.11; the hit at 0.8 earns 2 (from -1 to +1): keep both.
    both = sweep([_file({20: 0.9, 50: 0.8})], STANDARD)
    assert both.threshold == pytest.approx(0.8)
    assert both.raw == pytest.approx(1.0 - 0.11)
    # Twenty FPs scored above the only hit cost more than it earns: fire never.
    noisy = {i: 0.9 for i in range(20, 40)} | {50: 0.8}
    assert math.isinf(sweep([_file(noisy)], STANDARD).threshold)


def test_sweep_matches_fixed_threshold_scoring_across_files():
    rng = np.random.default_rng(7)
    files = [
        (rng.random(N), row_weights(N, [(30, 39), (70, 79)], STANDARD)),
        (rng.random(N), row_weights(N, [WINDOW], STANDARD)),
    ]
    best = sweep(files, STANDARD)
    assert best.raw == pytest.approx(score_at(files, STANDARD, best.threshold).raw)
    for t in np.linspace(0.0, 1.0, 21):
        assert score_at(files, STANDARD, float(t)).raw <= best.raw + 1e-9
    assert best.perfect == 3.0 and best.null == -3.0
