"""The NAB scoring method (Lavin & Ahmad 2015), implemented from its published description.

A detector gives every row of a file a score in [0, 1]; a row is a detection when its score
reaches the threshold. Per file:

- rows in the probation period (the first ``min(floor(0.15 n), 750)``) never count;
- in a window only the best detection counts, worth ``tp * scaled_sigmoid(p) / scaled_sigmoid(-1)``
  with ``p = -(right - i + 1) / width`` (1.0 at the left edge, little at the right edge);
- a detection outside every window costs ``fp * scaled_sigmoid(d)``: ``-fp`` before the first
  window, less right after a window (``d`` = distance past it / (its width - 1));
- a window with no detection costs ``-fn``.

Totals are summed over the corpus for one threshold; the corpus-optimised threshold is the one
that maximises the total, found exactly by sweeping every distinct score. Normalised score:
``100 * (raw - null) / (perfect - null)`` with ``null = -fn * windows`` (never fires) and
``perfect = tp * windows``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

PROBATION_FRACTION = 0.15


@dataclass(frozen=True)
class Profile:
    """Weights of true positives, false positives and false negatives."""

    tp: float
    fp: float
    fn: float


PROFILES: dict[str, Profile] = {
    "standard": Profile(tp=1.0, fp=0.11, fn=1.0),
    "reward_low_FP_rate": Profile(tp=1.0, fp=0.22, fn=1.0),
    "reward_low_FN_rate": Profile(tp=1.0, fp=0.11, fn=2.0),
}

#: window id of a probation row (never counts) and of a row outside every window.
PROBATION = -2
OUTSIDE = -1


def scaled_sigmoid(position: float) -> float:
    """``2 * sigmoid(-5 * position) - 1``, and -1 far (more than 3 widths) past a window."""
    if position > 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * position)) - 1.0


def probation_length(n: int) -> int:
    """Rows at the start of an ``n``-row file that never count."""
    return min(math.floor(PROBATION_FRACTION * n), int(PROBATION_FRACTION * 5000))


@dataclass(frozen=True)
class ScoredFile:
    """Per-row weights of one file under one profile."""

    weights: np.ndarray  # what a detection on that row is worth
    window: np.ndarray  # window index, OUTSIDE, or PROBATION
    n_windows: int  # windows with at least one row past probation


def row_weights(n: int, windows: Sequence[tuple[int, int]], profile: Profile) -> ScoredFile:
    """Weights of every row of an ``n``-row file with inclusive index ``windows``."""
    weights = np.zeros(n)
    window = np.full(n, OUTSIDE, dtype=np.int64)
    max_tp = scaled_sigmoid(-1.0)
    prev_right: int | None = None
    prev_width = 0
    ordered = sorted(windows)
    k = 0
    for i in range(n):
        while k < len(ordered) and ordered[k][1] < i:
            prev_right, prev_width = ordered[k][1], ordered[k][1] - ordered[k][0] + 1
            k += 1
        if k < len(ordered) and ordered[k][0] <= i <= ordered[k][1]:
            left, right = ordered[k]
            position = -(right - i + 1) / (right - left + 1)
            weights[i] = profile.tp * scaled_sigmoid(position) / max_tp
            window[i] = k
        elif prev_right is None:
            weights[i] = -profile.fp
        else:
            position = abs(prev_right - i) / max(prev_width - 1, 1)
            weights[i] = profile.fp * scaled_sigmoid(position)
    window[: probation_length(n)] = PROBATION
    counted = len({int(w) for w in window if w >= 0})
    return ScoredFile(weights, window, counted)


@dataclass(frozen=True)
class SweepResult:
    """The best threshold over a corpus and its scores."""

    threshold: float
    raw: float
    null: float
    perfect: float

    @property
    def normalised(self) -> float:
        """``100 * (raw - null) / (perfect - null)``."""
        span = self.perfect - self.null
        return 100.0 * (self.raw - self.null) / span if span else 0.0


def _corpus(
    files: Sequence[tuple[np.ndarray, ScoredFile]],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    scores, weights, wids = [], [], []
    offset = 0
    for file_scores, scored in files:
        keep = scored.window != PROBATION
        scores.append(np.asarray(file_scores, dtype=float)[keep])
        weights.append(scored.weights[keep])
        w = scored.window[keep]
        wids.append(np.where(w >= 0, w + offset, OUTSIDE))
        offset += int(scored.window.max(initial=-1)) + 1
    return np.concatenate(scores), np.concatenate(weights), np.concatenate(wids), offset


def _totals(scores: np.ndarray, weights: np.ndarray, wids: np.ndarray, fn: float, windows: int
            ) -> tuple[np.ndarray, np.ndarray]:
    """Raw totals with the threshold at each distinct score (descending); (thresholds, totals)."""
    order = np.argsort(-scores, kind="stable")
    s, w, wid = scores[order], weights[order], wids[order]
    delta = np.where(wid == OUTSIDE, w, 0.0)
    in_window = np.flatnonzero(wid != OUTSIDE)
    if in_window.size:
        # Per window, the running best detection along the sweep; credit only its increases.
        by_window = in_window[np.lexsort((in_window, wid[in_window]))]
        ids, vals = wid[by_window], w[by_window]
        best = vals.copy()
        starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
        for a, b in zip(starts, np.r_[starts[1:], len(ids)], strict=True):
            best[a:b] = np.maximum.accumulate(np.maximum(vals[a:b], -fn))
        previous = np.r_[-fn, best[:-1]]
        previous[starts] = -fn
        delta[by_window] = best - previous
    totals = -fn * windows + np.cumsum(delta)
    last_of_group = np.flatnonzero(np.r_[s[1:] != s[:-1], True])
    return s[last_of_group], totals[last_of_group]


def sweep(
    files: Sequence[tuple[np.ndarray, ScoredFile]], profile: Profile
) -> SweepResult:
    """The corpus-optimised threshold for (scores, weights) pairs of every file."""
    scores, weights, wids, _ = _corpus(files)
    windows = sum(f.n_windows for _, f in files)
    null, perfect = -profile.fn * windows, profile.tp * windows
    if scores.size == 0:
        return SweepResult(math.inf, null, null, perfect)
    thresholds, totals = _totals(scores, weights, wids, profile.fn, windows)
    best = int(np.argmax(totals))
    if totals[best] <= null:
        return SweepResult(math.inf, null, null, perfect)
    return SweepResult(float(thresholds[best]), float(totals[best]), null, perfect)


def score_at(
    files: Sequence[tuple[np.ndarray, ScoredFile]], profile: Profile, threshold: float
) -> SweepResult:
    """The corpus score at a fixed ``threshold`` (detections are scores >= threshold)."""
    raw = 0.0
    windows = 0
    for file_scores, scored in files:
        hit = (np.asarray(file_scores, dtype=float) >= threshold) & (scored.window != PROBATION)
        fp = hit & (scored.window == OUTSIDE)
        raw += float(scored.weights[fp].sum())
        counted = {int(w) for w in scored.window if w >= 0}
        for k in counted:
            in_k = hit & (scored.window == k)
            raw += float(scored.weights[in_k].max()) if in_k.any() else -profile.fn
        windows += scored.n_windows
    return SweepResult(threshold, raw, -profile.fn * windows, profile.tp * windows)
