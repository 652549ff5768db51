"""Benchmark: rule evaluations per second (rules x streams) against the raw query cost of the
same data, measured in the same run on the same SQLite store and metadata database.

    python bench/rules.py [--streams 200] [--rules 10] [--batches 20] [--points 10]

Two paths are measured:

* **arrival** (threshold rules, evaluated as each ingested batch arrives): the evaluator over
  every batch, against reading the same batch's points back from the store with one series
  query per stream (what evaluating by querying would cost at the least);
* **scheduled** (forecast and rate-of-change rules on the tick): a full tick, against the raw
  window queries those rules need (one per rule and stream).

A ratio below 1 means evaluating costs less than merely querying the data it looks at.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cloud.alerting.core.clock import ManualClock
from cloud.alerting.core.listener import IngestedReading
from cloud.alerting.rules import ForecastRule, RateOfChangeRule, Scope, ThresholdRule
from cloud.services import Services
from cloud.settings import load_settings
from cloud.store import Point

T0 = 1_777_593_600_000


def build(tmp: Path, clock: ManualClock) -> Services:
    settings = load_settings(None, data_dir=tmp, alerting={"enabled": False,
                                                           "rules_refresh_s": 60})
    svc = Services(settings, clock=clock)
    svc.start()
    return svc


def batches(streams: int, n_batches: int, points: int, rng: np.random.Generator
            ) -> list[list[IngestedReading]]:
    out = []
    for b in range(n_batches):
        batch = []
        for s in range(streams):
            base = 50.0 + (s % 7)
            ts = T0 + (b * points + np.arange(points)) * 1000
            # A few streams run hot for a while, so alerts open and resolve.
            hot = 40.0 if s % 25 == 0 and 5 <= b < 12 else 0.0
            values = base + hot + rng.normal(0, 1.0, points)
            batch += [IngestedReading(f"dev-{s:04d}", "temp", int(t), float(v), unit="Cel")
                      for t, v in zip(ts, values, strict=True)]
        out.append(batch)
    return out


def store_batch(svc: Services, batch: list[IngestedReading]) -> None:
    svc.store.write([Point(r.device, r.sensor, r.ts_ms, float(r.value), unit=r.unit)
                     for r in batch], [])


def arrival(svc: Services, clock: ManualClock, data: list[list[IngestedReading]],
            n_rules: int, streams: int, points: int
            ) -> tuple[float, float, int, float, float]:
    for i in range(n_rules):
        svc.alerting.rules.create(ThresholdRule(
            name=f"hot-{i}", limit=80.0 + i, clear=75.0 + i, for_s=2,
            scope=Scope(device="dev-*" if i % 2 == 0 else "dev-00*")))
    evaluator = svc.alerting.evaluator
    t_eval = t_query = t_quiet = t_quiet_query = 0.0
    quiet_evals = 0
    for b, batch in enumerate(data):
        store_batch(svc, batch)
        svc.alerting.recorder.record(batch, [], clock.now_ms())
        clock.set(batch[-1].ts_ms)
        before = evaluator.evaluations
        t = time.perf_counter()
        evaluator.evaluate_batch(batch, [], clock.now_ms())
        spent = time.perf_counter() - t
        t_eval += spent
        if b < 5:   # before any stream runs hot: no alert to open or update
            t_quiet += spent
            quiet_evals += evaluator.evaluations - before
        assert evaluator.evaluations > before
        start, end = batch[0].ts_ms, batch[-1].ts_ms + 1
        t = time.perf_counter()
        for s in range(streams):
            svc.store.series(f"dev-{s:04d}", "temp", start, end, 1000, ["mean"])
        spent = time.perf_counter() - t
        t_query += spent
        if b < 5:
            t_quiet_query += spent
    evaluations = evaluator.evaluations
    return t_eval, t_query, evaluations, t_quiet / t_quiet_query, quiet_evals / t_quiet


def scheduled(svc: Services, clock: ManualClock, n_rules: int, streams: int
              ) -> tuple[float, float, int]:
    for i in range(n_rules):
        svc.alerting.rules.create(ForecastRule(
            name=f"wear-{i}", limit=120.0 + i, lookback_s=600, horizon_s=3600))
        svc.alerting.rules.create(RateOfChangeRule(
            name=f"ramp-{i}", window_s=120, max_rise=5.0 + i))
    evaluator = svc.alerting.evaluator
    before = evaluator.evaluations
    t = time.perf_counter()
    evaluator.tick(clock.now_ms())
    t_tick = time.perf_counter() - t
    evaluations = evaluator.evaluations - before
    now = clock.now_ms()
    source = svc.alerting.context
    t = time.perf_counter()
    for _ in range(n_rules):
        for s in range(streams):
            source.window(f"dev-{s:04d}", "temp", now - 600_000, now)
            source.window(f"dev-{s:04d}", "temp", now - 120_000, now)
    t_query = time.perf_counter() - t
    return t_tick, t_query, evaluations


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--rules", type=int, default=10)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--points", type=int, default=10, help="points per stream per batch")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(42)
    data = batches(args.streams, args.batches, args.points, rng)
    with tempfile.TemporaryDirectory() as tmp:
        clock = ManualClock(T0)
        svc = build(Path(tmp), clock)
        try:
            t_eval, t_query, evals, quiet_ratio, quiet_rate = arrival(
                svc, clock, data, args.rules, args.streams, args.points)
            opened = len(svc.alerting.alerts.find(limit=5000))
            print(f"arrival: {args.rules} threshold rules x {args.streams} streams x "
                  f"{args.batches} batches of {args.points} points ({opened} alerts opened)")
            print(f"  rule evaluations/s (rule x stream x batch): {evals / t_eval:,.0f}")
            print(f"  evaluate: {t_eval * 1000:.1f} ms   raw series queries of the same data: "
                  f"{t_query * 1000:.1f} ms   ratio evaluate/query: {t_eval / t_query:.2f}")
            print(f"  quiet batches (no alert opens or changes): {quiet_rate:,.0f} "
                  f"evaluations/s, ratio evaluate/query: {quiet_ratio:.2f}")
            n_sched = max(1, args.rules // 5)
            t_tick, t_q2, evals2 = scheduled(svc, clock, n_sched, args.streams)
            print(f"scheduled: {n_sched} forecast + {n_sched} rate-of-change rules x "
                  f"{args.streams} streams, one tick")
            print(f"  rule evaluations/s: {evals2 / t_tick:,.0f}")
            print(f"  tick: {t_tick * 1000:.1f} ms   raw window queries alone: "
                  f"{t_q2 * 1000:.1f} ms   ratio tick/query: {t_tick / t_q2:.2f}")
        finally:
            svc.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
