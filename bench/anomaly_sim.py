"""Detection quality of the gateway's detectors on the project's own simulator.

Generates readings in-process with the REAL simulator code
(:class:`simulators.signals.DeviceSignals` for the machines,
:class:`simulators.faults.FaultInjector` for spikes, drifts and stuck sensors; no broker), runs
them through :class:`gateway.detect.DetectorBank` with the gateway's default ``[detect]``
settings and measures, per fault kind, the recall and, on healthy devices, the false-alarm rate.

What counts:

- a **spike** is found when its reading is flagged;
- a **drift** or **stuck** episode (consecutive faulted readings of one stream) is found when
  the stream raises an event on one of its readings or in the ``GRACE`` readings after it;
- faults in a stream's first ``SETTLE`` readings (the detector's calibration) are not counted;
- a **false alarm** is an event on a reading of a non-degrading device that carries no fault
  and is not in the grace period after one. Readings inside the warm-up count too (they can
  never flag, so they only make the rate look better: the rate is also reported over the
  readings after the warm-up).

``python bench/anomaly_sim.py`` (a few seconds; ``--minutes 30`` for a longer run) prints the
figures; ``tests/detect/test_simulator.py`` asserts floors on them.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from gateway.detect import DetectorBank, DetectSettings
from simulators.faults import DRIFT, SPIKE, STUCK, FaultInjector, parse_fault_spec
from simulators.fleet import device_names
from simulators.signals import SENSORS, Degradation, DeviceSignals

#: Readings after a lasting fault in which an event still counts as finding it.
GRACE = 10
#: A stream's first readings in which the default detector is still calibrating (its
#: ``silent`` period): faults there are counted apart, not in the recall.
SETTLE = 300
#: Fault rates per message, high enough that a few minutes hold dozens of each kind.
DEFAULT_FAULTS = "spike=0.004,drift=0.0005/20,stuck=0.0005/40"
START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


@dataclass(frozen=True, slots=True)
class SimRun:
    """What to simulate: a fleet like ``iotgw sim run`` (and ``iotgw demo``) would send."""

    devices: int = 4
    sensors: tuple[str, ...] = tuple(SENSORS)
    per_device_hz: float = 10.0
    seconds: float = 300.0
    faults: str = DEFAULT_FAULTS
    seed: int = 1
    #: Devices that wear out over the whole run (their readings are not counted as healthy).
    degrade: tuple[str, ...] = ()
    start_ms: int = START_MS


@dataclass(slots=True)
class Reading:
    device: str
    sensor: str
    ts_ms: int
    value: float
    fault: str | None


def simulate(run: SimRun) -> Iterator[Reading]:
    """Readings in publish order (device after device, each at ``per_device_hz``)."""
    names = device_names(run.devices)
    rules = parse_fault_spec(run.faults) if run.faults else ()
    duration_ms = int(run.seconds * 1000)
    devs = []
    for i, name in enumerate(names):
        wear = Degradation(run.start_ms, duration_ms) if name in run.degrade else None
        devs.append((name, DeviceSignals(i, run.seed, run.sensors, wear),
                     FaultInjector(rules, run.seed, i, name)))
    period_ms = 1000.0 / run.per_device_hz
    steps = int(run.seconds * run.per_device_hz)
    for k in range(steps):
        for j, (name, signals, injector) in enumerate(devs):
            ts = run.start_ms + round((k + j / len(devs)) * period_ms)
            plan = injector.plan(signals.sample(ts), ts)
            if plan.dropped or plan.malformed is not None:
                continue  # never reaches the detectors (dead-lettered or not sent)
            for sensor, value in plan.values.items():
                yield Reading(name, sensor, plan.ts_ms, value, plan.reading_faults.get(sensor))


@dataclass(slots=True)
class Quality:
    """Counts of one run; ``recall`` and ``false_alarm_rate`` derive the figures."""

    found: dict[str, int] = field(default_factory=lambda: {SPIKE: 0, DRIFT: 0, STUCK: 0})
    total: dict[str, int] = field(default_factory=lambda: {SPIKE: 0, DRIFT: 0, STUCK: 0})
    healthy: int = 0
    #: Faulted readings in a stream's first ``SETTLE`` readings: not counted in the recall.
    early: int = 0
    healthy_after_warmup: int = 0
    false_alarms: int = 0
    events: int = 0
    readings: int = 0
    #: (device, sensor, index in stream, value, score) of every false alarm, for diagnosis.
    false_alarm_log: list[tuple[str, str, int, float, float]] = field(default_factory=list)

    def recall(self, kind: str) -> float:
        return self.found[kind] / self.total[kind] if self.total[kind] else float("nan")

    def false_alarm_rate(self, after_warmup: bool = False) -> float:
        n = self.healthy_after_warmup if after_warmup else self.healthy
        return self.false_alarms / n if n else 0.0

    def summary(self) -> str:
        kinds = ", ".join(
            f"{k} {self.found[k]}/{self.total[k]} ({self.recall(k):.2f})" for k in self.total
        )
        return (
            f"{self.readings} readings, {self.events} events, {self.early} faulted readings "
            f"while calibrating; recall: {kinds}; false alarms "
            f"{self.false_alarms}/{self.healthy} healthy readings "
            f"({100 * self.false_alarm_rate():.3f}%, "
            f"{100 * self.false_alarm_rate(after_warmup=True):.3f}% after warm-up)"
        )


@dataclass(slots=True)
class _Episode:
    kind: str
    end: int  # stream index of the last faulted reading
    found: bool = False


@dataclass(slots=True)
class _Stream:
    seen: int = 0
    episode: _Episode | None = None
    grace_until: int = -1


def measure(run: SimRun, settings: DetectSettings | None = None) -> Quality:
    """Run the simulated fleet through a :class:`DetectorBank` and count what it finds."""
    settings = settings or DetectSettings()
    q = Quality()
    streams: dict[tuple[str, str], _Stream] = {}
    with tempfile.TemporaryDirectory() as tmp:
        bank = DetectorBank(settings, Path(tmp))
        bank.start()
        for r in simulate(run):
            _, event = bank.step(r.device, r.sensor, r.ts_ms, r.value)
            st = streams.setdefault((r.device, r.sensor), _Stream())
            _count(q, st, r, event is not None, settings.warmup, run.degrade)
            if event is not None:
                q.events += 1
                idx = st.seen - 1
                if r.fault is None and idx > st.grace_until and r.device not in run.degrade:
                    q.false_alarm_log.append((r.device, r.sensor, idx, r.value, event.score))
            q.readings += 1
    for st in streams.values():
        _close(q, st)
    return q


def _count(
    q: Quality, st: _Stream, r: Reading, flagged: bool, warmup: int, degrade: tuple[str, ...]
) -> None:
    idx = st.seen
    st.seen += 1
    ep = st.episode
    if ep is not None:
        continues = r.fault == ep.kind and idx == ep.end + 1
        if not continues and (r.fault in (DRIFT, STUCK) or idx > ep.end + GRACE):
            _close(q, st)
            ep = None
    if r.fault is not None and idx < SETTLE:
        q.early += 1
        st.grace_until = idx + GRACE
        return
    if r.fault == SPIKE:
        q.total[SPIKE] += 1
        q.found[SPIKE] += flagged
        st.grace_until = idx + GRACE
        return
    if r.fault in (DRIFT, STUCK):
        if ep is None:
            ep = st.episode = _Episode(r.fault, idx)
        ep.end = idx
        ep.found |= flagged
        st.grace_until = idx + GRACE
        return
    if ep is not None:
        ep.found |= flagged  # within the grace period after the episode
    if idx <= st.grace_until or r.device in degrade:
        return
    q.healthy += 1
    q.healthy_after_warmup += idx >= warmup
    q.false_alarms += flagged


def _close(q: Quality, st: _Stream) -> None:
    ep = st.episode
    if ep is not None:
        q.total[ep.kind] += 1
        q.found[ep.kind] += ep.found
        st.episode = None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--devices", type=int, default=4)
    p.add_argument("--minutes", type=float, default=5.0)
    p.add_argument("--hz", type=float, default=10.0, help="messages per second per device")
    p.add_argument("--seeds", type=int, default=1, help="runs with seeds 1..N")
    p.add_argument("--faults", default=DEFAULT_FAULTS)
    p.add_argument("--detector", default=None, help="default: the gateway's default detector")
    p.add_argument("--params", default="{}", help='detector params (JSON): {"tolerance": 0.1}')
    p.add_argument("--threshold", type=float, default=None, help="default: the detector's own")
    p.add_argument("--show", type=int, default=0, help="print the first N false alarms")
    a = p.parse_args(argv)
    chosen = {} if a.detector is None else {"detector": a.detector}
    settings = DetectSettings(**chosen, params=json.loads(a.params), threshold=a.threshold)
    for seed in range(1, a.seeds + 1):
        run = SimRun(devices=a.devices, per_device_hz=a.hz, seconds=a.minutes * 60,
                     faults=a.faults, seed=seed)
        t0 = time.perf_counter()
        q = measure(run, settings)
        print(f"seed {seed}: {q.summary()} [{time.perf_counter() - t0:.1f} s]")
        for fa in q.false_alarm_log[: a.show]:
            print("   false alarm", fa, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
