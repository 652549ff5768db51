"""Leave-one-category-out cross-validation of the detectors (used by ``bench/anomaly_nab.py``).

The selection protocol, so that no figure we publish was tuned on the files it is scored on:

- Each detector declares a **small grid** of parameter sets (:data:`GRIDS`, one factor at a
  time around its defaults; the defaults are always the first point).
- The development files fall into **categories**: NAB's ``artificial`` (its ``NoAnomaly`` and
  ``WithAnomaly`` files together: the quiet ones alone have no window to score),
  ``realAWSCloudwatch``, ``realTraffic``, ``realAdExchange``, and the ``simulator`` corpus
  (:mod:`bench.sim_corpus`).
- For each category in turn, the parameter set **and** the threshold are the ones that
  maximise the NAB standard score on all the *other* categories; the held-out category is then
  scored with them. The CV mean and worst are over the NAB categories; the simulator fold is
  shown apart (it is not NAB, so it does not enter a figure compared with NAB's).

Every file is scored once per grid point, through the same ``StreamState.step`` the gateway
uses, at the detector's default threshold for the no-learning-from-flagged rule; only the
alarm threshold is then swept, exactly as ``bench/anomaly_nab.py`` always did.
"""

from __future__ import annotations

import pickle
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from bench.nab_scoring import PROFILES, ScoredFile, row_weights, score_at, sweep
from gateway.detect import DetectSettings, StreamState, create_detector

Params = dict[str, Any]
#: A grid key that is not a detector parameter: the gateway threshold the stream runs at
#: (which readings are kept out of the model), a setting like any other.
THRESHOLD = "_threshold"

#: One factor at a time around each detector's defaults (first point = the defaults).
#: Kept small on purpose: the machine is shared, and a small grid cannot overfit much.
GRIDS: dict[str, list[Params]] = {
    "sentinel": [
        {}, {"tolerance": 0.05}, {"tolerance": 0.1}, {"bins": 10}, {"bins": 16},
        {"noise_margin": 2.0}, {"noise_margin": 8.0}, {"refractory": 0},
        # Ablations: a part that does not earn its keep under CV is a knob to remove.
        {"day_slots": 0}, {"calib_reject": 0.0}, {"stuck_min": 10**9},
        # Candidate: new extremes graded by how often the stream breaks records at all.
        {"record_rate": 1},
    ],
    "ensemble": [
        {}, {"members": "sentinel+gaussian"}, {"members": "sentinel+sad"},
        {"members": "sentinel+jump", "combine": "max"}, {THRESHOLD: 0.8},
    ],
    "hst": [{}, {"window_size": 250}, {"height": 8}, {THRESHOLD: 0.8}],
    "gaussian": [{}, {"window_size": 250}, {"window_size": 4000}, {THRESHOLD: 0.999999}],
    "sad": [{}, {"scale": 2.0}, {THRESHOLD: 0.8}],
    "predictive": [{}, {"n_std": 6.0}, {THRESHOLD: 0.8}],
    "flatline": [{}, {"factor": 2.0}],
    "range": [{}],
    "jump": [{}, {"factor": 5.0}, {"factor": 20.0}, {THRESHOLD: 0.8}],
}
NAB_CATEGORIES = ("artificial", "realAWSCloudwatch", "realTraffic", "realAdExchange")
SIM_CATEGORY = "simulator"


class Series(Protocol):
    name: str
    values: list[float]
    ts_ms: list[int]
    windows: list[tuple[int, int]]


def category(name: str) -> str:
    """The CV category of a file name such as ``realTraffic/speed_6005.csv``."""
    head = name.split("/", 1)[0]
    return "artificial" if head.startswith("artificial") else head


@dataclass
class GridRun:
    """Scores of every file for one (detector, parameter set)."""

    detector: str
    params: Params
    scores: list[np.ndarray]
    seconds: float
    readings: int
    state_bytes: int


def score_files(name: str, params: Params, files: Sequence[Series]) -> GridRun:
    """Score every file with a fresh stream of ``name(**params)`` under the gateway's policy."""
    chosen, params = params, dict(params)
    threshold = params.pop(THRESHOLD, None)
    policy = DetectSettings(detector=name, params=params, threshold=threshold).policy()
    scores: list[np.ndarray] = []
    seconds, readings, size = 0.0, 0, 0
    for f in files:
        state = StreamState(create_detector(name, **params))
        out = np.empty(len(f.values))
        step = state.step
        start = time.perf_counter()
        for i, (v, t) in enumerate(zip(f.values, f.ts_ms, strict=True)):
            out[i] = step(v, t, policy)[0]
        seconds += time.perf_counter() - start
        readings += len(f.values)
        scores.append(out)
        size = max(size, len(pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)))
    return GridRun(name, chosen, scores, seconds, readings, size)


_FILES: Sequence[Series] = ()


def _init(files: Sequence[Series]) -> None:
    global _FILES
    _FILES = files


def _task(job: tuple[str, Params]) -> GridRun:
    return score_files(job[0], job[1], _FILES)


def run_grids(
    names: Sequence[str], files: Sequence[Series], workers: int = 2
) -> dict[str, list[GridRun]]:
    """Every grid point of every detector, on at most ``workers`` processes (2: shared box)."""
    jobs = [(n, p) for n in names for p in GRIDS.get(n, [{}])]
    if workers <= 1:
        _init(files)
        runs = [_task(j) for j in jobs]
    else:
        with ProcessPoolExecutor(min(workers, 2), initializer=_init, initargs=(files,)) as pool:
            runs = list(pool.map(_task, jobs))
    out: dict[str, list[GridRun]] = {n: [] for n in names}
    for run in runs:
        out[run.detector].append(run)
    return out


@dataclass
class Fold:
    """One held-out category: what was chosen on the others and how it scored."""

    category: str
    params: Params
    threshold: float
    score: float  # NAB standard, normalised over the held-out category's windows
    raw: float
    null: float
    perfect: float


def weights(files: Sequence[Series]) -> list[ScoredFile]:
    """Standard-profile row weights of every file (computed once, shared by every run)."""
    profile = PROFILES["standard"]
    return [row_weights(len(f.values), f.windows, profile) for f in files]


def cross_validate(
    runs: list[GridRun], files: Sequence[Series], scored: list[ScoredFile]
) -> list[Fold]:
    """Leave-one-category-out: choose (params, threshold) on the others, score the held-out."""
    profile = PROFILES["standard"]
    cats = [category(f.name) for f in files]
    folds = []
    for held in (*NAB_CATEGORIES, SIM_CATEGORY):
        if held not in cats:
            continue
        train = [i for i, c in enumerate(cats) if c != held]
        test = [i for i, c in enumerate(cats) if c == held]
        best: tuple[float, int, float] | None = None
        for g, run in enumerate(runs):
            result = sweep([(run.scores[i], scored[i]) for i in train], profile)
            if best is None or result.normalised > best[0]:
                best = (result.normalised, g, result.threshold)
        assert best is not None
        _, g, thr = best
        out = score_at([(runs[g].scores[i], scored[i]) for i in test], profile, thr)
        folds.append(
            Fold(held, runs[g].params, thr, out.normalised, out.raw, out.null, out.perfect)
        )
    return folds


def summary(folds: list[Fold]) -> dict[str, Any]:
    """CV mean and worst over the NAB folds, pooled NAB score, and the simulator fold."""
    nab = [f for f in folds if f.category != SIM_CATEGORY]
    sim = [f for f in folds if f.category == SIM_CATEGORY]
    worst = min(nab, key=lambda f: f.score) if nab else None
    raw = sum(f.raw for f in nab)
    null = sum(f.null for f in nab)
    perfect = sum(f.perfect for f in nab)
    return {
        "cv_mean": float(np.mean([f.score for f in nab])) if nab else float("nan"),
        "cv_worst": worst.score if worst else float("nan"),
        "cv_worst_cat": worst.category if worst else "-",
        "cv_pooled": 100.0 * (raw - null) / (perfect - null) if perfect > null else 0.0,
        "cv_sim": sim[0].score if sim else float("nan"),
        "cv_choice": cv_choice(folds),
    }


def cv_choice(folds: list[Fold]) -> Params:
    """The parameter set most folds chose (ties: the earliest fold's): what the CV says the
    defaults should be, without ever looking at a score on all the files at once."""
    keys = [repr(sorted(f.params.items())) for f in folds]
    best = max(keys, key=lambda k: (keys.count(k), -keys.index(k)))
    return folds[keys.index(best)].params


def variants(runs: list[GridRun], files: Sequence[Series], scored: list[ScoredFile]
             ) -> list[tuple[Params, dict[str, Any]]]:
    """Each grid point on its own, only the threshold chosen on the other categories: how
    much each value (or each removed part) is worth on data it was not selected on."""
    return [(run.params, summary(cross_validate([run], files, scored))) for run in runs]
