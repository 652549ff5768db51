"""Sensor-like series with injected anomalies, generated with numpy for the detector tests."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

STEP_MS = 300_000  # one reading every 5 minutes
T0_MS = 1_700_000_000_000


@dataclass(frozen=True)
class Injected:
    """One injected anomaly: its kind and the row where it starts."""

    kind: str
    start: int


@dataclass(frozen=True)
class Series:
    values: np.ndarray
    ts_ms: np.ndarray
    anomalies: list[Injected]


def sensor_series(seed: int, n: int = 4000) -> Series:
    """A temperature-like stream (daily cycle + noise) with spikes, a drift and a stuck run.

    Anomalies start after row 1500 (past warm-up and calibration), spaced 400 rows apart.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    day = 288
    values = 20.0 + 5.0 * np.sin(2 * np.pi * t / day) + rng.normal(0.0, 0.4, n)
    anomalies: list[Injected] = []
    at = 1500
    for sign in (1, -1, 1):  # spikes well outside the daily swing
        values[at] += sign * rng.uniform(12.0, 18.0)
        anomalies.append(Injected("spike", at))
        at += 400
    # A drift: the sensor creeps away over 100 readings and stays off.
    ramp = np.linspace(0.0, 15.0, 100)
    values[at : at + 100] += ramp
    values[at + 100 : at + 300] += 15.0
    anomalies.append(Injected("drift", at))
    at += 700
    # A stuck sensor: the last value repeats for 80 readings.
    values[at : at + 80] = values[at - 1]
    anomalies.append(Injected("stuck", at))
    ts = T0_MS + t * STEP_MS
    return Series(values, ts, anomalies)


def found(flags: np.ndarray, anomaly: Injected, within: int = 120) -> bool:
    """Whether a flag was raised in ``within`` rows from the anomaly's start."""
    return bool(flags[anomaly.start : anomaly.start + within].any())
