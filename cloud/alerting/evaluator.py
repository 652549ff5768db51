"""The rule evaluator: arrival rules on every ingested batch, scheduled rules on a tick.

It is the cloud's :class:`~cloud.alerting.core.listener.IngestListener`: after the store accepted
a batch it records pipeline statistics, classifies the batch's readings with every threshold
rule in scope (vectorised with numpy) and counts anomaly events for anomaly-rate rules. A
series with nothing over its limit and no open alert costs no database work. The tick
(:meth:`tick`, run by :meth:`start` every ``every_s``) evaluates deadman, forecast, rate of
change, anomaly-rate resolution and pipeline rules, and releases alerts whose silence ended.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from operator import attrgetter
from typing import Any

import numpy as np

from cloud.alerting.alerts.lifecycle import AlertManager, open_key
from cloud.alerting.core.clock import Clock
from cloud.alerting.core.listener import AnomalyLike, ReadingLike, SeriesLike
from cloud.alerting.monitors.health import PipelineHealth
from cloud.alerting.monitors.recorder import IngestRecorder
from cloud.alerting.rules.anomaly_rate import AnomalyRateRule
from cloud.alerting.rules.base import Observation, SeriesRef, StreamInfo
from cloud.alerting.rules.context import StoreContext
from cloud.alerting.rules.pipeline import PipelineRule
from cloud.alerting.rules.store import RuleRepository, StoredRule
from cloud.alerting.rules.threshold import ThresholdRule
from cloud.metrics import CloudMetrics
from common.loop import BackgroundLoop

log = logging.getLogger(__name__)


class _Batch:
    """One batch's numeric readings grouped per stream: all values in one array (streams
    contiguous, each in time order), so a rule classifies the whole batch in one numpy call."""

    def __init__(self, readings: Sequence[ReadingLike], series: Sequence[SeriesLike] = ()
                 ) -> None:
        self.refs: list[SeriesRef] = []
        self.units: list[str] = []
        self._keys: dict[int, str] = {}
        if series:
            self._group_series(series)
            self.ends = np.append(self.starts[1:], len(self.ts)).astype(np.int64)
            return
        values = list(map(_VALUE, readings))
        if bool in set(map(type, values)):
            self._group_in_python(readings)
        else:
            self._group_with_numpy(readings, values)
        self.ends = np.append(self.starts[1:], len(self.ts)).astype(np.int64)

    def key(self, i: int) -> str:
        """Stream ``i``'s open-alert key (without the rule id), made when first asked for:
        with no open alert anywhere, no stream needs one."""
        key = self._keys.get(i)
        if key is None:
            key = self._keys[i] = open_key("", self.refs[i])
        return key

    def _add(self, r: ReadingLike) -> None:
        """A stream's entry, named after its newest reading ``r``."""
        self.refs.append(SeriesRef(r.device, r.sensor, r.site))
        self.units.append(r.unit or "")

    def _group_with_numpy(self, readings: Sequence[ReadingLike], values: list[Any]) -> None:
        """No booleans: every reading counts. Streams in order of first appearance, each
        sorted by time, ties in arrival order (a stable lexsort), all in C."""
        n = len(values)
        keys = list(map(_STREAM, readings))
        ids: dict[tuple[str, str], int] = dict.fromkeys(keys, 0)
        for i, key in enumerate(ids):
            ids[key] = i
        group = np.fromiter(map(ids.__getitem__, keys), dtype=np.int64, count=n)
        ts = np.fromiter(map(_TS, readings), dtype=np.int64, count=n)
        order = np.lexsort((ts, group))
        counts = np.bincount(group, minlength=len(ids))
        ends = np.cumsum(counts)
        self.starts = (ends - counts).astype(np.int64)
        self.ts = ts[order]
        self.values = np.array(values, dtype=np.float64)[order]
        for last in order[ends - 1].tolist():
            self._add(readings[last])

    def _group_series(self, series: Sequence[SeriesLike]) -> None:
        """A batch already held per series (values are floats): series of one stream
        (device, sensor) are joined, each stream sorted by time once, in numpy."""
        streams: dict[tuple[str, str], list[SeriesLike]] = {}
        for s in series:
            if s.ts:
                streams.setdefault((s.device, s.sensor), []).append(s)
        starts, ts_parts, value_parts, at = [], [], [], 0
        for parts in streams.values():
            ts = np.concatenate([np.asarray(p.ts, dtype=np.int64) for p in parts])
            owner = np.concatenate([np.full(len(p.ts), k) for k, p in enumerate(parts)])
            values = np.concatenate([np.asarray(p.value, dtype=np.float64) for p in parts])
            order = np.argsort(ts, kind="stable")
            starts.append(at)
            at += len(ts)
            ts_parts.append(ts[order])
            value_parts.append(values[order])
            newest = parts[int(owner[order[-1]])]
            self.refs.append(SeriesRef(newest.device, newest.sensor, newest.site))
            self.units.append(newest.unit or "")
        self.starts = np.array(starts, dtype=np.int64)
        self.ts = np.concatenate(ts_parts) if ts_parts else np.zeros(0, dtype=np.int64)
        self.values = (np.concatenate(value_parts) if value_parts
                       else np.zeros(0, dtype=np.float64))

    def _group_in_python(self, readings: Sequence[ReadingLike]) -> None:
        """With booleans among the values: they are left out (a threshold needs a number)."""
        groups: dict[tuple[str, str], list[ReadingLike]] = {}
        for r in readings:
            if not isinstance(r.value, bool):
                groups.setdefault((r.device, r.sensor), []).append(r)
        ordered: list[ReadingLike] = []
        starts: list[int] = []
        for rs in groups.values():
            rs.sort(key=lambda r: r.ts_ms)
            starts.append(len(ordered))
            ordered += rs
            self._add(rs[-1])
        self.starts = np.array(starts, dtype=np.int64)
        self.ts = np.fromiter((r.ts_ms for r in ordered), dtype=np.int64, count=len(ordered))
        self.values = np.fromiter((float(r.value) for r in ordered), dtype=np.float64,
                                  count=len(ordered))


_VALUE = attrgetter("value")
_TS = attrgetter("ts_ms")
_STREAM = attrgetter("device", "sensor")


def run_points(ts: np.ndarray, states: np.ndarray) -> np.ndarray:
    """Indices worth observing: where the state changes, and the last of each run.

    >>> run_points(np.arange(6), np.array([0, 1, 1, 1, -1, 0])).tolist()
    [0, 1, 3, 4, 5]
    """
    n = len(states)
    change = np.flatnonzero(np.diff(states)) + 1
    starts = np.concatenate(([0], change))
    ends = np.concatenate((change - 1, [n - 1]))
    return np.unique(np.concatenate((starts, ends)))


class RuleEvaluator:
    """Evaluates rules and feeds the alert lifecycle; an ingest listener with start/stop."""

    def __init__(
        self, rules: RuleRepository, alerts: AlertManager, recorder: IngestRecorder,
        health: PipelineHealth, ctx: StoreContext, clock: Clock, every_s: float,
        metrics: CloudMetrics,
    ) -> None:
        self._rules = rules
        self._alerts = alerts
        self._recorder = recorder
        self._health = health
        self._ctx = ctx
        self._clock = clock
        self._every_s = every_s
        self._loop = BackgroundLoop("rule-evaluator", self._scheduled_tick, every_s,
                                    join_timeout_s=60)
        self.errors = 0
        self._m_errors = metrics.rule_evaluation_errors
        self._m_arrival = metrics.rule_evaluation_duration.labels(mode="arrival")
        self._m_schedule = metrics.rule_evaluation_duration.labels(mode="schedule")
        self.evaluations = 0
        self._scope_cache: dict[tuple[str, str, str, SeriesRef], bool] = {}

    def _failed(self) -> None:
        self.errors += 1
        self._m_errors.inc()

    # -- arrival -----------------------------------------------------------------------------
    def on_ingested(
        self, readings: Sequence[ReadingLike], anomalies: Sequence[AnomalyLike]
    ) -> None:
        """Record the batch and evaluate arrival rules; never raises (the data is stored)."""
        received_ms = self._clock.now_ms()
        try:
            self._recorder.record(readings, anomalies, received_ms)
        except Exception:
            self._failed()
            log.exception("recording pipeline statistics of an ingested batch failed")
        try:
            with self._m_arrival.time():
                self.evaluate_batch(readings, anomalies, received_ms)
        except Exception:
            self._failed()
            log.exception("alert evaluation of an ingested batch failed")

    def on_ingested_series(
        self, series: Sequence[SeriesLike], anomalies: Sequence[AnomalyLike]
    ) -> None:
        """:meth:`on_ingested` for a batch held per series: recorded per series, and the
        rules classify it without a reading ever becoming an object."""
        received_ms = self._clock.now_ms()
        try:
            self._recorder.record_series(series, anomalies, received_ms)
        except Exception:
            self._failed()
            log.exception("recording pipeline statistics of an ingested batch failed")
        try:
            with self._m_arrival.time():
                self.evaluate_batch((), anomalies, received_ms, series)
        except Exception:
            self._failed()
            log.exception("alert evaluation of an ingested batch failed")

    def evaluate_batch(
        self, readings: Sequence[ReadingLike], anomalies: Sequence[AnomalyLike],
        now_ms: int, series: Sequence[SeriesLike] = (),
    ) -> None:
        """Threshold rules over the readings (or ``series``), anomaly-rate rules over the
        events' streams."""
        rules = [r for r in self._rules.active() if r.spec.mode == "arrival"]
        if not rules:
            return
        batch = _Batch(readings, series)
        opened = self._alerts.open_keys()
        for stored in rules:
            if isinstance(stored.spec, ThresholdRule):
                self._threshold(stored.id, stored.spec, batch, opened)
            elif isinstance(stored.spec, AnomalyRateRule) and anomalies:
                seen = {(a.device, a.sensor): a.site for a in anomalies}
                streams = [StreamInfo(d, s, site, None, now_ms) for (d, s), site in seen.items()
                           if stored.spec.scope.matches(site, d, s)]
                self._apply(stored, stored.spec.evaluate(self._ctx, streams, now_ms), opened)

    def _threshold(
        self, rule_id: str, rule: ThresholdRule, batch: _Batch, opened: dict[str, str]
    ) -> None:
        if not batch.refs:
            return
        in_scope = [i for i, ref in enumerate(batch.refs)
                    if self._in_scope(rule_id, rule, ref)]
        self.evaluations += len(in_scope)
        if not in_scope:
            return
        states = rule.classify(batch.values)
        active = np.maximum.reduceat(states == 1, batch.starts)
        extra = rule.fields()
        for i in in_scope:
            state = opened.get(rule_id + batch.key(i)) if opened else None
            if state is None and not active[i]:
                continue
            a, b = int(batch.starts[i]), int(batch.ends[i])
            ts, st, values = batch.ts[a:b], states[a:b], batch.values[a:b]
            if state == "firing" and not (st == 0).any():
                continue   # still over the limit (or in the hysteresis band): no transition
            fields = {**extra, "unit": batch.units[i]}
            observations = [
                Observation(batch.refs[i], int(ts[j]), {1: True, 0: False}.get(int(st[j])),
                            float(values[j]), fields)
                for j in run_points(ts, st)]
            self._alerts.apply(rule_id, rule, observations)

    def _in_scope(self, rule_id: str, rule: ThresholdRule, ref: SeriesRef) -> bool:
        scope = rule.scope
        key = (scope.site, scope.device, scope.sensor, ref)
        hit = self._scope_cache.get(key)
        if hit is None:
            if len(self._scope_cache) > 100_000:
                self._scope_cache.clear()
            hit = self._scope_cache[key] = rule.scope.matches(ref.site, ref.device, ref.sensor)
        return hit

    def _apply(
        self, stored: StoredRule, observations: list[Observation], opened: dict[str, str]
    ) -> None:
        """Apply only what can change an alert: a new condition, or a change on an open one
        (a firing alert whose condition still holds needs no write)."""
        keep = []
        for o in observations:
            state = opened.get(open_key(stored.id, o.series))
            if (state is None and o.active) or (state is not None and not (
                    state == "firing" and o.active)):
                keep.append(o)
        if keep:
            self._alerts.apply(stored.id, stored.spec, keep)

    # -- schedule ----------------------------------------------------------------------------
    def tick(self, now_ms: int | None = None) -> None:
        """Evaluate every scheduled rule at ``now_ms`` and release ended silences."""
        now = self._clock.now_ms() if now_ms is None else now_ms
        rules = [r for r in self._rules.active()
                 if r.spec.mode == "schedule" or isinstance(r.spec, AnomalyRateRule)]
        with self._m_schedule.time():
            streams = self._ctx.streams()
            opened = self._alerts.open_keys()
            with self._ctx.tick_cache():
                self._tick_rules(rules, streams, opened, now)
            self._alerts.release_silenced()

    def _tick_rules(self, rules: list[StoredRule], streams: list[StreamInfo],
                    opened: dict[str, str], now: int) -> None:
        findings: list[Any] | None = None
        for stored in rules:
            spec = stored.spec
            try:   # one failing rule (e.g. a store timeout) must not stop the others
                if isinstance(spec, PipelineRule):
                    if findings is None:
                        findings = self._health.run(now)[1]
                    observations = spec.observe_findings(
                        findings, self._alerts.open_series(stored.id), now)
                else:
                    scoped = [s for s in streams
                              if spec.scope.matches(s.site, s.device, s.sensor)]
                    self.evaluations += len(scoped)
                    observations = spec.evaluate(self._ctx, scoped, now)
                self._apply(stored, observations, opened)
            except Exception:
                self._failed()
                log.exception("scheduled evaluation of rule %s failed", stored.id)

    def start(self) -> None:
        """Tick every ``every_s`` in a background thread until :meth:`stop`."""
        self._loop.start()

    def stop(self) -> None:
        """Stop ticking (waits for a running tick)."""
        self._loop.stop()

    def _scheduled_tick(self) -> None:
        try:
            self.tick()
        except Exception:
            self._failed()
            log.exception("scheduled rule evaluation failed")
