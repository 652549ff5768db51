"""NAB benchmark of every registered detector on the vendored development subset.

    python bench/anomaly_nab.py                  # all detectors, all files (~10 min, 2 workers)
    python bench/anomaly_nab.py --quick          # a third of the files, shorter simulations
    python bench/anomaly_nab.py --variants --folds --learn-all   # everything the docs quote
    python bench/anomaly_nab.py --detectors hst,sentinel

Each file is scored row by row with no look-ahead through the same ``StreamState.step`` the
gateway uses (warm-up, threshold, no learning from flagged readings at the detector's default
threshold). Then per detector: NAB standard / reward-low-FP / reward-low-FN scores at the
corpus-optimised threshold, the standard score at the gateway's fixed default threshold,
microseconds per reading and pickled state bytes per stream; the cost baseline (ratio = 1.00)
is River's GaussianScorer, the nearest thing to NAB's "Windowed Gaussian" (published 41.4 here),
timed in the same run. With leave-one-category-out cross-validation (``bench/anomaly_cv.py``)
over NAB's categories and the simulator corpus (``bench/sim_corpus.py``).
"""

from __future__ import annotations

import argparse
import csv
import json
import pickle
import sys
import time
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.anomaly_cv import (
    category,
    cross_validate,
    run_grids,
    summary,
    variants,
    weights,
)
from bench.nab_scoring import PROFILES, ScoredFile, row_weights, score_at, sweep
from bench.sim_corpus import sim_corpus
from gateway.detect import DetectSettings, StreamState, create_detector, detector_names

DATA = Path(__file__).resolve().parent / "data" / "nab"
BASELINE = "gaussian"
ANCHORS = {
    "Numenta HTM": 75.5,
    "ARTime": 74.6,
    "Random Cut Forest": 59.4,
    "Windowed Gaussian": 41.4,
}


@dataclass
class NabFile:
    name: str
    values: list[float]
    ts_ms: list[int]
    windows: list[tuple[int, int]]


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.strip())


def load_corpus(quick: bool = False) -> list[NabFile]:
    """Every labelled file, its values and its windows as inclusive row indices."""
    labels = json.loads((DATA / "labels_combined_windows.json").read_text())
    names = sorted(labels)
    if quick:
        names = names[::5]
    corpus = []
    for name in names:
        with (DATA / "data" / name).open(newline="") as fh:
            rows = list(csv.DictReader(fh))
        stamps = [_parse(r["timestamp"]) for r in rows]
        windows = [
            (bisect_left(stamps, _parse(a)), bisect_right(stamps, _parse(b)) - 1)
            for a, b in labels[name]
        ]
        ts_ms = [int(s.timestamp() * 1000) for s in stamps]
        corpus.append(NabFile(name, [float(r["value"]) for r in rows], ts_ms, windows))
    return corpus


@dataclass
class DetectorRun:
    scores: list[np.ndarray]
    seconds: float
    readings: int
    state_bytes: list[int]


def run_detector(name: str, corpus: list[NabFile], learn_all: bool = False) -> DetectorRun:
    """Score every file with a fresh stream of ``name`` under the gateway's policy.

    ``learn_all`` lifts the no-learning-from-flagged rule (plain NAB protocol: learn everything).
    """
    policy = DetectSettings(detector=name).policy()
    if learn_all:
        policy = replace(policy, relearn_after=1)
    scores, sizes = [], []
    seconds, readings = 0.0, 0
    for f in corpus:
        state = StreamState(create_detector(name))
        out = np.empty(len(f.values))
        step = state.step
        start = time.perf_counter()
        for i, (v, t) in enumerate(zip(f.values, f.ts_ms, strict=True)):
            out[i] = step(v, t, policy)[0]
        seconds += time.perf_counter() - start
        readings += len(f.values)
        scores.append(out)
        sizes.append(len(pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)))
    return DetectorRun(scores, seconds, readings, sizes)


def standard_score(run: DetectorRun, corpus: list[NabFile]) -> float:
    """NAB standard score at the corpus-optimised threshold."""
    profile = PROFILES["standard"]
    weighted = [
        (s, row_weights(len(f.values), f.windows, profile))
        for s, f in zip(run.scores, corpus, strict=True)
    ]
    return sweep(weighted, profile).normalised


def evaluate(name: str, run: DetectorRun, corpus: list[NabFile]) -> dict[str, float]:
    """The table row of one detector."""
    row: dict[str, float] = {}
    for profile_name, profile in PROFILES.items():
        weighted: list[tuple[np.ndarray, ScoredFile]] = [
            (s, row_weights(len(f.values), f.windows, profile))
            for s, f in zip(run.scores, corpus, strict=True)
        ]
        best = sweep(weighted, profile)
        row[profile_name] = best.normalised
        if profile_name == "standard":
            row["threshold"] = best.threshold
            fixed = DetectSettings(detector=name).effective_threshold()
            row["fixed"] = score_at(weighted, profile, fixed).normalised
            row["fixed_threshold"] = fixed
    row["us"] = 1e6 * run.seconds / max(run.readings, 1)
    row["bytes"] = float(max(run.state_bytes))
    return row


def load_quick(quick: bool) -> list[NabFile]:
    """The NAB files; ``quick``: every third file of each category (all categories kept)."""
    corpus = load_corpus()
    if not quick:
        return corpus
    by_cat: dict[str, list[NabFile]] = {}
    for f in corpus:
        by_cat.setdefault(category(f.name), []).append(f)
    return [f for files in by_cat.values() for f in files[::3]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a third of the files, short sims")
    parser.add_argument("--detectors", help="comma-separated names (default: all)")
    parser.add_argument("--workers", type=int, default=2, help="processes (at most 2)")
    parser.add_argument("--folds", action="store_true", help="print every CV fold")
    parser.add_argument("--learn-all", action="store_true",
                        help="also score the defaults learning every reading (plain NAB)")
    parser.add_argument("--variants", action="store_true",
                        help="print every grid point's CV figures (threshold-only selection)")
    args = parser.parse_args(argv)
    names = args.detectors.split(",") if args.detectors else detector_names()
    if BASELINE not in names:
        names.append(BASELINE)
    corpus = load_quick(args.quick)
    sim = sim_corpus(args.quick)
    files: list[Any] = [*corpus, *sim]
    n_rows = sum(len(f.values) for f in corpus)
    n_windows = sum(len(f.windows) for f in corpus)
    print(f"NAB dev subset: {len(corpus)} files, {n_rows} rows, {n_windows} windows; simulator: "
          f"{len(sim)} files, {sum(len(f.values) for f in sim)} rows, "
          f"{sum(len(f.windows) for f in sim)} windows")
    grids = run_grids(names, files, args.workers)
    scored = weights(files)
    rows = {}
    for name in names:
        runs = grids[name]
        default = runs[0]
        nab_run = DetectorRun(default.scores[: len(corpus)], default.seconds,
                              default.readings, [default.state_bytes])
        rows[name] = evaluate(name, nab_run, corpus)
        folds = cross_validate(runs, files, scored)
        rows[name].update(summary(folds))
        if args.learn_all:
            rows[name]["learn_all"] = standard_score(run_detector(name, corpus, True), corpus)
        if args.variants:
            for params, v in variants(runs, files, scored):
                print(f"  {name:<11} variant {params or 'defaults'!s:<44} CV mean "
                      f"{v['cv_mean']:6.1f} worst {v['cv_worst']:6.1f} pooled "
                      f"{v['cv_pooled']:6.1f} sim {v['cv_sim']:6.1f}")
        if args.folds:
            for f in folds:
                print(f"  {name:<11} held-out {f.category:<18} {f.score:6.1f}  "
                      f"params {f.params} threshold {f.threshold:.4f}")
    print_table(rows, rows[BASELINE]["us"])
    for name in names:
        print(f"CV choice for {name}: {rows[name]['cv_choice'] or 'the defaults'}")
    if args.learn_all:
        print("learn-all (plain NAB protocol, defaults, NAB dev): " + ", ".join(
            f"{n} {r['learn_all']:.1f}" for n, r in rows.items()))
    print("anchors (published outputs, same subset, standard): "
          + ", ".join(f"{k} {v}" for k, v in ANCHORS.items()))
    return 0


def print_table(rows: dict[str, dict[str, Any]], base: float) -> None:
    """One line per detector; scores are NAB-normalised (0 = never fires, 100 = perfect)."""
    head = (f"{'detector':<11} {'full-dev':>8} {'@fixed':>7} {'CV mean':>7} {'CV worst':>21} "
            f"{'CV pool':>7} {'sim fold':>8} {'low_FP':>7} {'low_FN':>7} {'opt_thr':>8} "
            f"{'us/read':>8} {'B/stream':>9} {'x base':>7}")
    print(head)
    print("-" * len(head))
    for name, r in rows.items():
        ratio = r["us"] / base if base else float("nan")
        worst = f"{r['cv_worst']:.1f} {r['cv_worst_cat']}"
        print(f"{name:<11} {r['standard']:8.1f} {r['fixed']:7.1f} {r['cv_mean']:7.1f} "
              f"{worst:>21} {r['cv_pooled']:7.1f} {r['cv_sim']:8.1f} "
              f"{r['reward_low_FP_rate']:7.1f} {r['reward_low_FN_rate']:7.1f} "
              f"{r['threshold']:8.4f} {r['us']:8.1f} {r['bytes']:9.0f} {ratio:7.2f}")
    print("full-dev: NAB standard on every dev file, defaults, corpus-optimised threshold;")
    print("@fixed: the same at the gateway's default threshold; CV: leave-one-category-out")
    print("(params and threshold chosen on the other categories incl. the simulator), mean and")
    print("worst over NAB's categories, pooled over them, and the simulator fold on its own;")
    print("low_FP/low_FN: the other NAB profiles (full-dev); x base: us/read over "
          f"{BASELINE}'s (River's GaussianScorer) in the same run.")
    print("us/read and B/stream (largest pickled stream state) over NAB and simulator files.")


if __name__ == "__main__":
    sys.exit(main())
