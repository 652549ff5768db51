"""The seam between the gateway pipeline and the anomaly detectors.

The pipeline calls a :class:`Scorer` once per decoded reading, inline; a returned
:class:`AnomalyEvent` takes the buffer's priority lane to the cloud and is published locally.
The pipeline knows nothing else about detectors, and detectors nothing about MQTT or buffers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class AnomalyEvent:
    """A reading a detector flagged; ``expected_low``..``expected_high`` is what was expected."""

    device: str
    sensor: str
    ts_ms: int
    value: float
    score: float
    detector: str
    expected_low: float | None = None
    expected_high: float | None = None
    site: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The event as the ingest API's ``anomalies`` entries carry it (``ts`` in UTC ms)."""
        data = asdict(self)
        data["ts"] = data.pop("ts_ms")
        return data


class Scorer(Protocol):
    """Scores readings per (device, sensor) stream, learning as it goes."""

    def observe(
        self, device: str, sensor: str, ts_ms: int, value: float, site: str | None = None
    ) -> AnomalyEvent | None:
        """Score one reading (then learn from it unless flagged); an event if it is anomalous."""
        ...
