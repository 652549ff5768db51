"""Online anomaly detection per (device, sensor) stream.

One role, :class:`Detector` (score one reading in [0, 1] without learning, then learn; every
detector is also a River ``AnomalyDetector``), one implementation per module, a registry by
name, an optional per-device joint model, and :class:`DetectorBank`, the gateway's
:class:`~gateway.scoring.Scorer` that keeps one detector per stream with a memory cap and saves
state across restarts. ``iotgw detect`` (``gateway.detect.cli``) scores a CSV the same way.
"""

from gateway.detect.bank import DetectorBank
from gateway.detect.base import BaseDetector, Detector
from gateway.detect.device import DeviceState, MahalanobisDetector
from gateway.detect.ensemble import EnsembleDetector
from gateway.detect.errors import DetectError, StateError, UnknownDetector
from gateway.detect.flatline import FlatlineDetector
from gateway.detect.gaussian import GaussianDetector
from gateway.detect.hst import HalfSpaceTreesDetector
from gateway.detect.jump import JumpDetector
from gateway.detect.likelihood import AnomalyLikelihood
from gateway.detect.predictive import PredictiveDetector
from gateway.detect.range import RangeDetector
from gateway.detect.registry import (
    DEFAULT_DETECTOR,
    create_detector,
    detector_class,
    detector_names,
)
from gateway.detect.sad import StandardAbsoluteDeviationDetector
from gateway.detect.sentinel import SentinelDetector
from gateway.detect.settings import DetectSettings, load_detect_settings
from gateway.detect.stream import StreamPolicy, StreamState

__all__ = [
    "DEFAULT_DETECTOR",
    "AnomalyLikelihood",
    "BaseDetector",
    "DetectError",
    "DetectSettings",
    "Detector",
    "DetectorBank",
    "DeviceState",
    "EnsembleDetector",
    "FlatlineDetector",
    "GaussianDetector",
    "HalfSpaceTreesDetector",
    "JumpDetector",
    "MahalanobisDetector",
    "PredictiveDetector",
    "RangeDetector",
    "SentinelDetector",
    "StandardAbsoluteDeviationDetector",
    "StateError",
    "StreamPolicy",
    "StreamState",
    "UnknownDetector",
    "create_detector",
    "detector_class",
    "detector_names",
    "load_detect_settings",
]
