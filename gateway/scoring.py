"""The seam between the gateway pipeline and the anomaly detectors.

The pipeline calls a :class:`Scorer` once per decoded reading, inline; a returned
:class:`AnomalyEvent` takes the buffer's priority lane to the cloud and is published locally.
The pipeline knows nothing else about detectors, and detectors nothing about MQTT or buffers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

from gateway.decoded import ToScore
from ingest_protocol import AnomalyRecord

log = logging.getLogger("gateway.pipeline")

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


@runtime_checkable
class BatchScorer(Protocol):
    """A scorer that takes a batch's messages at once, in another process (the score worker:
    one round trip); the caller may work meanwhile."""

    def submit(self, items: Sequence[tuple[str, ToScore]]) -> None:
        """Hand over ``(device, scoring)`` items to score, in order."""
        ...

    def collect(self, on_error: Callable[[], None] = ...) -> list[list[AnomalyEvent]]:
        """The anomaly events of each submitted item, in order (waits for them); ``on_error``
        once per reading whose scoring failed."""
        ...


def score_message(scorer: Scorer, device: str, scoring: ToScore,
                  on_error: Callable[[], None]) -> list[AnomalyEvent]:
    """Score one message's readings in order, then the device jointly when the scorer does
    that (``observe_device``); a detector's failure is logged and counted, never raised (a
    detector bug must not take the stream down)."""
    out = []
    observe, site = scorer.observe, scoring.site
    for sensor, ts_ms, value in scoring.values:
        try:
            event = observe(device, sensor, ts_ms, value, site)
        except Exception:
            log.exception("scorer failed on %s/%s", device, sensor)
            on_error()
            continue
        if event is not None:
            out.append(event)
    observe_device = getattr(scorer, "observe_device", None)
    if observe_device is not None:
        values = {sensor: value for sensor, _, value in scoring.values}
        try:
            device_event: AnomalyEvent | None = observe_device(
                device, scoring.first_ts, values, site)
        except Exception:
            log.exception("device scorer failed on %s", device)
            on_error()
        else:
            if device_event is not None:
                out.append(device_event)
    return out
