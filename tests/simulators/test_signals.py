"""Signals: daily cycles, correlation between sensors, degradation to failure (no broker)."""

from __future__ import annotations

import itertools
import statistics

import pytest

from simulators.signals import SENSORS, Degradation, DeviceSignals, parse_sensors

HOUR = 3_600_000
DAY0 = 1_700_006_400_000  # 2023-11-15T00:00:00Z, a UTC midnight
ALL = tuple(SENSORS)


def _series(dev: DeviceSignals, start: int, step_ms: int, n: int) -> list[dict[str, float]]:
    return [dev.sample(start + i * step_ms) for i in range(n)]


def test_same_seed_same_values_other_seed_other_values() -> None:
    a = _series(DeviceSignals(3, 42, ALL), DAY0, 1000, 50)
    b = _series(DeviceSignals(3, 42, ALL), DAY0, 1000, 50)
    c = _series(DeviceSignals(3, 43, ALL), DAY0, 1000, 50)
    assert a == b
    assert a != c


def test_daily_cycle_afternoon_is_warmer_than_night() -> None:
    dev = DeviceSignals(0, 1, ("temperature", "humidity"))
    day = _series(dev, DAY0, 60_000, 24 * 60)
    night = [s["temperature"] for s in day[2 * 60 : 5 * 60]]
    afternoon = [s["temperature"] for s in day[13 * 60 : 16 * 60]]
    assert statistics.mean(afternoon) > statistics.mean(night) + 5
    # humidity falls when the air warms up
    hum_night = statistics.mean(s["humidity"] for s in day[2 * 60 : 5 * 60])
    hum_afternoon = statistics.mean(s["humidity"] for s in day[13 * 60 : 16 * 60])
    assert hum_afternoon < hum_night


def test_sensors_are_correlated_through_load() -> None:
    dev = DeviceSignals(5, 9, ("current", "vibration"))
    day = _series(dev, DAY0, 60_000, 24 * 60)
    current = [s["current"] for s in day]
    vibration = [s["vibration"] for s in day]
    assert statistics.correlation(current, vibration) > 0.8


def test_noise_is_present_but_small() -> None:
    dev = DeviceSignals(1, 2, ("pressure",))
    values = [s["pressure"] for s in _series(dev, DAY0, 1000, 200)]
    diffs = [b - a for a, b in itertools.pairwise(values)]
    assert len(set(values)) > 150
    assert statistics.pstdev(diffs) < 5 * SENSORS["pressure"].noise


def test_degradation_vibration_rises_temperature_follows_then_failure() -> None:
    deg = Degradation(start_ms=DAY0 + HOUR, duration_ms=6 * HOUR)
    dev = DeviceSignals(2, 5, ALL, deg)
    healthy = DeviceSignals(2, 5, ALL)
    step = 60_000
    worn = _series(dev, DAY0, step, 8 * 60)
    ref = _series(healthy, DAY0, step, 8 * 60)
    before = slice(0, 60)  # the first hour: no wear yet
    late = slice(6 * 60, 7 * 60)  # the last hour before failure
    assert worn[before] == ref[before]
    vib_ratio = statistics.mean(s["vibration"] for s in worn[late]) / statistics.mean(
        s["vibration"] for s in ref[late]
    )
    assert vib_ratio > 4
    temp_gap = statistics.mean(s["temperature"] for s in worn[late]) - statistics.mean(
        s["temperature"] for s in ref[late]
    )
    assert temp_gap > 8
    # vibration rises monotonically (hour means) during the wear
    hourly = [
        statistics.mean(s["vibration"] for s in worn[h * 60 : (h + 1) * 60]) for h in range(1, 7)
    ]
    assert hourly == sorted(hourly)
    # after failure the motor is tripped
    failed = worn[7 * 60 + 5 :]
    assert max(s["current"] for s in failed) < 0.1
    assert dev.progress(DAY0 + 7 * HOUR + 1) == 1.0


def test_compressed_degradation_runs_in_seconds() -> None:
    deg = Degradation(start_ms=DAY0, duration_ms=30_000)
    dev = DeviceSignals(0, 0, ("vibration",), deg)
    series = [s["vibration"] for s in _series(dev, DAY0, 100, 290)]
    assert statistics.mean(series[-30:]) > 4 * statistics.mean(series[:30])


def test_parse_sensors_rejects_unknown_and_repeated() -> None:
    assert parse_sensors("current") == ("current",)
    with pytest.raises(ValueError, match="unknown sensor 'torque'"):
        parse_sensors("current,torque")
    with pytest.raises(ValueError, match="twice"):
        parse_sensors("current,current")
