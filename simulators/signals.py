"""Signals that look like real machines: daily cycles, noise, correlated sensors, wear to failure.

Every simulated device is a motor-driven machine (a pump, a fan) with one hidden *load* that
follows the working day, plus an AR(1) wander. Each sensor is a function of that load, of the
ambient temperature (a daily cycle peaking mid-afternoon UTC) and of the machine's *wear*, plus
Gaussian noise. So sensors are correlated as on a real machine: current and vibration rise with
load, casing temperature with load and ambient, humidity falls when the air warms up.

A :class:`Degradation` makes one machine wear out: vibration rises slowly, then steeply (bearing
damage grows quadratically), casing temperature follows with a lag (friction heat), current
creeps up; at the end the machine *fails* (trips): current and vibration drop to almost nothing
and the casing cools down. Its duration is any number of seconds, so a compressed failure runs in
a test or a demo.

Everything is deterministic for a given seed, device index and sequence of sample times.

>>> dev = DeviceSignals(0, seed=7, sensors=("temperature", "current"))
>>> a = dev.sample(1_700_000_000_000)
>>> sorted(a)
['current', 'temperature']
>>> DeviceSignals(0, seed=7, sensors=("temperature", "current")).sample(1_700_000_000_000) == a
True
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class SensorSpec:
    """A sensor kind: its unit (SenML name), noise level, typical span and display precision."""

    name: str
    unit: str
    noise: float
    #: Typical span of normal values; faults scale their size by it.
    scale: float
    decimals: int


#: The sensor kinds the simulator knows, in the order ``--sensors`` lists them by default.
SENSORS: dict[str, SensorSpec] = {
    "temperature": SensorSpec("temperature", "Cel", 0.15, 10.0, 2),
    "vibration": SensorSpec("vibration", "m/s2", 0.04, 2.0, 3),
    "pressure": SensorSpec("pressure", "Pa", 400.0, 50_000.0, 0),
    "humidity": SensorSpec("humidity", "%RH", 0.6, 10.0, 1),
    "current": SensorSpec("current", "A", 0.08, 5.0, 2),
}


def parse_sensors(text: str) -> tuple[str, ...]:
    """The sensor names in a comma-separated list; raises ``ValueError`` naming an unknown one.

    >>> parse_sensors("temperature, vibration")
    ('temperature', 'vibration')
    """
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    if not names:
        raise ValueError("no sensor named")
    for name in names:
        if name not in SENSORS:
            raise ValueError(f"unknown sensor {name!r}; known: {', '.join(SENSORS)}")
    if len(set(names)) != len(names):
        raise ValueError("a sensor is named twice")
    return names


@dataclass(frozen=True, slots=True)
class Degradation:
    """Wear that grows from ``start_ms`` and ends in a failure ``duration_ms`` later.

    >>> d = Degradation(start_ms=0, duration_ms=1000)
    >>> d.progress(500), d.progress(2000)
    (0.5, 1.0)
    """

    start_ms: int
    duration_ms: int

    def progress(self, t_ms: int) -> float:
        """Wear in [0, 1]: 0 before the start, 1 from the failure on."""
        if t_ms <= self.start_ms:
            return 0.0
        return min(1.0, (t_ms - self.start_ms) / self.duration_ms)


def _hour_of_day(t_ms: int) -> float:
    return (t_ms % DAY_MS) / 3_600_000


class DeviceSignals:
    """The sensor values of one simulated machine, sample after sample.

    ``sample`` must be called with non-decreasing times: the load wander and the friction heat
    are state carried from one sample to the next.
    """

    def __init__(
        self,
        index: int,
        seed: int,
        sensors: Sequence[str],
        degradation: Degradation | None = None,
    ) -> None:
        self.sensors = tuple(sensors)
        self.degradation = degradation
        self._rng = random.Random(f"signals:{seed}:{index}")
        rng = self._rng
        self._temp_offset = rng.gauss(0.0, 1.5)
        self._rated_current = rng.uniform(8.0, 15.0)
        self._base_vibration = rng.uniform(1.5, 3.0)
        self._pressure_set = rng.uniform(250_000.0, 350_000.0)
        self._humidity_base = rng.uniform(45.0, 60.0)
        self._phase_h = rng.uniform(-1.0, 1.0)
        self._wander = 0.0
        self._heat = 0.0
        self._last_ms: int | None = None

    def progress(self, t_ms: int) -> float | None:
        """Degradation progress at ``t_ms`` (None when this machine does not degrade)."""
        return None if self.degradation is None else self.degradation.progress(t_ms)

    def _advance(self, t_ms: int) -> float:
        """Step the AR(1) load wander and the friction heat to ``t_ms``; return the wear."""
        dt_s = 1.0 if self._last_ms is None else max(0.0, (t_ms - self._last_ms) / 1000)
        self._last_ms = t_ms
        keep = math.exp(-dt_s / 600.0)  # the wander forgets over ~10 minutes
        self._wander = keep * self._wander + math.sqrt(1 - keep * keep) * self._rng.gauss(0, 0.08)
        wear = self.progress(t_ms) or 0.0
        target_heat = 0.0 if wear >= 1.0 else 30.0 * wear * wear
        tau_s = 120.0 if self.degradation is None else max(1.0, self.degradation.duration_ms / 1e4)
        follow = 1.0 - math.exp(-dt_s / tau_s)
        self._heat += (target_heat - self._heat) * follow
        return wear

    def sample(self, t_ms: int) -> dict[str, float]:
        """The values of every configured sensor at ``t_ms`` (UTC milliseconds)."""
        wear = self._advance(t_ms)
        hour = _hour_of_day(t_ms) + self._phase_h
        ambient = 18.0 + self._temp_offset + 4.0 * math.sin(2 * math.pi * (hour - 9.0) / 24)
        working = 0.5 - 0.5 * math.cos(2 * math.pi * (hour - 2.0) / 24)
        load = min(1.0, max(0.05, 0.3 + 0.5 * working + self._wander))
        failed = wear >= 1.0
        if failed:
            load = 0.0
        gauss = self._rng.gauss
        values: dict[str, float] = {}
        for name in self.sensors:
            spec = SENSORS[name]
            if name == "temperature":
                v = ambient + 22.0 * load + self._heat
            elif name == "vibration":
                v = (self._base_vibration * (0.6 + 0.6 * load) + self._base_vibration * 8 * wear**2)
                v = 0.05 if failed else v
            elif name == "pressure":
                v = 101_325.0 + (self._pressure_set - 101_325.0) * (0.7 + 0.4 * load)
            elif name == "humidity":
                v = min(100.0, max(5.0, self._humidity_base - 1.8 * (ambient - 18.0)))
            else:  # current
                v = self._rated_current * (0.3 + 0.7 * load) * (1 + 0.15 * wear)
                v = 0.0 if failed else v
            noise = gauss(0.0, spec.noise)
            if failed and name in ("vibration", "current"):
                noise *= 0.1
            values[name] = round(max(0.0, v + noise), spec.decimals)
        return values
