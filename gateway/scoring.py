"""The seam between the gateway pipeline and the anomaly detectors.

The pipeline calls a :class:`Scorer` once per decoded reading, inline; a returned
:class:`AnomalyEvent` takes the buffer's priority lane to the cloud and is published locally.
The pipeline knows nothing else about detectors, and detectors nothing about MQTT or buffers.
"""

from __future__ import annotations

from typing import Protocol

from ingest_protocol import AnomalyRecord

#: A reading a detector flagged (``expected_low``..``expected_high`` is what was expected): the
#: ingest contract's anomaly record, whose ``to_dict()`` is the batch's ``anomalies`` entry.
AnomalyEvent = AnomalyRecord


class Scorer(Protocol):
    """Scores readings per (device, sensor) stream, learning as it goes."""

    def observe(
        self, device: str, sensor: str, ts_ms: int, value: float, site: str | None = None
    ) -> AnomalyEvent | None:
        """Score one reading (then learn from it unless flagged); an event if it is anomalous."""
        ...
