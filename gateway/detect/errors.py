"""Errors of the anomaly-detection family.

``DetectError`` is the root:

- ``UnknownDetector``: a detector name that is not in the registry (a settings or CLI error).
- ``StateError``: a saved stream state that cannot be used (wrong version, corrupt file).
"""

from __future__ import annotations


class DetectError(Exception):
    """Root of every error raised by :mod:`gateway.detect`."""


class UnknownDetector(DetectError, KeyError):
    """A detector name that is not registered."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown detector"


class StateError(DetectError):
    """A saved stream state that cannot be restored; it is discarded, never fatal."""
