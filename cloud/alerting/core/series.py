"""The identity of one watched series, shared by rules, alerts and pipeline-health checks."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SeriesRef:
    """One watched series; ``sensor`` is ``""`` for device-level rules (deadman per device)."""

    device: str
    sensor: str
    site: str | None = None
