"""Sensor-like signals (numpy, seeded) for the rule tests."""

from __future__ import annotations

import numpy as np


def temperature(n: int, rng: np.random.Generator, base: float = 60.0) -> np.ndarray:
    """A motor temperature: slow daily-ish wave plus sensor noise."""
    t = np.arange(n)
    return base + 2.0 * np.sin(2 * np.pi * t / 720) + rng.normal(0, 0.3, n)


def degrading_vibration(hours: np.ndarray, fail_h: float, rng: np.random.Generator,
                        healthy: float = 2.0, limit: float = 7.1) -> np.ndarray:
    """Bearing wear: RMS vibration flat, then rising faster and faster until it reaches
    ``limit`` at ``fail_h`` (the failure); noise and occasional spikes on top."""
    onset = fail_h * 0.4
    x = np.clip((hours - onset) / (fail_h - onset), 0, None)
    trend = healthy + (limit - healthy) * x ** 1.6
    spikes = (rng.random(len(hours)) < 0.01) * rng.uniform(1.0, 3.0, len(hours))
    return trend + rng.normal(0, 0.08, len(hours)) + spikes
