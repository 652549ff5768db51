"""A second development corpus that is not NAB: the simulator's machines, labelled like NAB.

Every file is one (device, sensor) stream from the REAL simulator code
(:class:`simulators.signals.DeviceSignals`, :class:`simulators.faults.FaultInjector`), with
spikes, drifts and stuck sensors injected, and on one device of each fleet a wear-out that ends
in a trip. Fleets vary the sampling period (5 minutes as in most NAB files, 1 minute, 1 second)
and the noise (the simulator's own, and three times it added on top), so that nothing is tuned
to one corpus's sampling rate or signal-to-noise ratio.

Windows are built as NAB builds them: one per labelled event, ``10 %`` of the file's rows shared
among its events, centred on the event's first faulted reading (overlapping windows merged).
A wear-out's window runs from half-way through the wear to the trip: a detection before that
is early for the sensors, after it too late to matter. Only the sensors the wear shows on
(temperature, vibration, current) carry that window.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from simulators.faults import FaultInjector, parse_fault_spec
from simulators.signals import SENSORS, Degradation, DeviceSignals

START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
#: (sampling period in seconds, extra noise as a multiple of the sensor's own noise)
FLEETS: tuple[tuple[float, float], ...] = (
    (300.0, 0.0), (300.0, 3.0), (60.0, 0.0), (60.0, 3.0), (1.0, 0.0), (1.0, 3.0),
)
SENSOR_SET = ("temperature", "vibration", "current")
WEAR_SENSORS = frozenset(SENSOR_SET)
#: Per message: one event per stream every ~1,500 readings on average.
FAULTS = "spike=0.0008,drift=0.0004/30,stuck=0.0004/60"
CATEGORY = "simulator"


@dataclass
class SimFile:
    """One labelled stream, the same shape as a NAB file of the benchmark."""

    name: str
    values: list[float]
    ts_ms: list[int]
    windows: list[tuple[int, int]]


def _nab_windows(n: int, onsets: list[int]) -> list[tuple[int, int]]:
    if not onsets:
        return []
    width = max(2, int(0.10 * n / len(onsets)))
    return _merge([(max(0, o - width // 2), min(n - 1, o + width // 2)) for o in onsets])


def fleet_files(
    period_s: float, extra_noise: float, rows: int, seed: int, devices: int = 2
) -> list[SimFile]:
    """The streams of one fleet: device 0 wears out and trips at 95 % of the run."""
    files: list[SimFile] = []
    period_ms = int(period_s * 1000)
    rules = parse_fault_spec(FAULTS)
    for d in range(devices):
        duration = int(0.45 * rows * period_ms)
        wear = Degradation(START_MS + int(0.5 * rows * period_ms), duration) if d == 0 else None
        signals = DeviceSignals(d, seed, SENSOR_SET, wear)
        injector = FaultInjector(rules, seed, d, f"dev-{d}")
        noise = random.Random(f"noise:{seed}:{d}")
        values: dict[str, list[float]] = {s: [] for s in SENSOR_SET}
        onsets: dict[str, list[int]] = {s: [] for s in SENSOR_SET}
        prev: dict[str, str | None] = dict.fromkeys(SENSOR_SET)
        stamps = [START_MS + k * period_ms for k in range(rows)]
        for k, ts in enumerate(stamps):
            plan = injector.plan(signals.sample(ts), ts)
            for s in SENSOR_SET:
                spec = SENSORS[s]
                v = plan.values[s] + extra_noise * noise.gauss(0.0, spec.noise)
                values[s].append(round(v, spec.decimals))
                fault = plan.reading_faults.get(s)
                if fault is not None and prev[s] != fault:
                    onsets[s].append(k)
                prev[s] = fault
        for s in SENSOR_SET:
            windows = _nab_windows(rows, onsets[s])
            if wear is not None and s in WEAR_SENSORS:
                half = int(0.5 * rows + 0.5 * 0.45 * rows)
                trip = int(0.95 * rows)
                windows = _merge([*windows, (half, trip)])
            name = f"{CATEGORY}/p{period_s:g}s_n{extra_noise:g}_s{seed}_dev{d}_{s}"
            files.append(SimFile(name, values[s], list(stamps), windows))
    return files


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    spans = sorted(spans)
    out = [spans[0]]
    for a, b in spans[1:]:
        if a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def sim_corpus(quick: bool = False, seed: int = 11) -> list[SimFile]:
    """Every fleet's streams (``quick``: half the fleets, shorter runs)."""
    fleets = FLEETS[::2] if quick else FLEETS
    rows = 1500 if quick else 2500
    files: list[SimFile] = []
    for period_s, extra in fleets:
        files.extend(fleet_files(period_s, extra, rows, seed))
    return files
