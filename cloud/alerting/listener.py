"""The seam between the ingest path and the alerting side.

The ingest handler calls :meth:`IngestListener.on_ingested` once per batch **after the store
accepted it**, with the accepted readings and anomaly events. A listener must never make an
ingest fail: the data is already stored, so errors are logged and counted, not raised.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class IngestedReading:
    """One accepted reading (``ts_ms``: device time, UTC ms)."""

    device: str
    sensor: str
    ts_ms: int
    value: float | int | bool
    site: str | None = None
    unit: str | None = None


@dataclass(frozen=True, slots=True)
class IngestedAnomaly:
    """One accepted edge anomaly event (as the gateway's detectors report it)."""

    device: str
    sensor: str
    ts_ms: int
    score: float = 0.0
    detector: str = ""
    value: float | None = None
    site: str | None = None


class IngestListener(Protocol):
    """Told about every batch the store accepted."""

    def on_ingested(
        self, readings: Sequence[IngestedReading], anomalies: Sequence[IngestedAnomaly]
    ) -> None:
        """Called after the store accepted the batch (the listener stamps the receive time
        with its own clock); must not raise."""
        ...
