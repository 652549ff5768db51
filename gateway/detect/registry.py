"""Detectors by name: the names settings and ``iotgw detect --detector`` accept."""

from __future__ import annotations

from typing import Any

from gateway.detect.base import Detector
from gateway.detect.catalog import MEMBER_CLASSES
from gateway.detect.ensemble import EnsembleDetector
from gateway.detect.errors import UnknownDetector

_CLASSES: tuple[type[Any], ...] = (*MEMBER_CLASSES, EnsembleDetector)

#: The detector the gateway uses unless told otherwise, chosen by ``bench/anomaly_nab.py``.
DEFAULT_DETECTOR = "sentinel"


def detector_names() -> list[str]:
    """Every registered name, in registry order."""
    return [cls.name for cls in _CLASSES]


def detector_class(name: str) -> type[Any]:
    """The class registered as ``name``; :class:`UnknownDetector` if none."""
    for cls in _CLASSES:
        if cls.name == name:
            return cls
    raise UnknownDetector(f"unknown detector {name!r}; choose one of {', '.join(detector_names())}")


def create_detector(name: str, **params: Any) -> Detector:
    """A fresh detector ``name`` built with ``params``."""
    detector: Detector = detector_class(name)(**params)
    return detector
