"""The single-stream detectors an ensemble may combine, by name (below the registry, so the
ensemble can build its members without importing the registry that lists it)."""

from __future__ import annotations

from typing import Any

from gateway.detect.errors import UnknownDetector
from gateway.detect.flatline import FlatlineDetector
from gateway.detect.gaussian import GaussianDetector
from gateway.detect.hst import HalfSpaceTreesDetector
from gateway.detect.jump import JumpDetector
from gateway.detect.predictive import PredictiveDetector
from gateway.detect.range import RangeDetector
from gateway.detect.sad import StandardAbsoluteDeviationDetector
from gateway.detect.sentinel import SentinelDetector

MEMBER_CLASSES: tuple[type[Any], ...] = (
    SentinelDetector,
    HalfSpaceTreesDetector,
    GaussianDetector,
    StandardAbsoluteDeviationDetector,
    PredictiveDetector,
    FlatlineDetector,
    RangeDetector,
    JumpDetector,
)


def create_member(name: str, **params: Any) -> Any:
    """A fresh single-stream detector ``name``; :class:`UnknownDetector` if there is none."""
    for cls in MEMBER_CLASSES:
        if cls.name == name:
            return cls(**params)
    names = ", ".join(cls.name for cls in MEMBER_CLASSES)
    raise UnknownDetector(f"unknown ensemble member {name!r}; choose from {names}")
