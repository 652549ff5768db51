"""One publish the runner hands to the broker, and the source role that produces them.

A :class:`Source` yields, step by step, the publishes of one message: one normally, two for a
duplicate, a silent record (``payload None``) for a message a dropout kept off the air, plus any
held-back out-of-order message released after it. Each :class:`Outgoing` knows its manifest line
except the send index and the acknowledgement.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from firmware_protocol.model import Message

#: ``(site, device, format) -> topic``.
TopicFormatter = Callable[[str, str, str], str]


def topic_formatter(template: str | None = None) -> TopicFormatter:
    """A topic builder for ``template`` (default: the protocol's default topic template)."""
    from firmware_protocol.topics import DEFAULT_TOPIC_TEMPLATE, TopicTemplate

    tpl = TopicTemplate(template or DEFAULT_TOPIC_TEMPLATE)

    def build(site: str, device: str, fmt: str) -> str:
        return tpl.format(site=site, device=device, format=fmt)

    return build


@dataclass(slots=True)
class Outgoing:
    """A message ready to publish (or, with ``payload None``, one a dropout kept silent)."""

    message: Message
    payload: bytes | None
    topic: str
    fmt: str
    qos: int
    #: Index of the connection to use in per-device mode (the device's index).
    conn: int
    #: Seconds after the run's start when this should go out (0: as soon as possible).
    due_s: float = 0.0
    labels: list[str] = field(default_factory=list)
    reading_faults: dict[str, str] = field(default_factory=dict)
    malformed: bool = False
    duplicate: bool = False
    degradation: float | None = None

    def record(self, n: int, acked: bool) -> dict[str, Any]:
        """This publish's manifest line (see :mod:`simulators.manifest`)."""
        msg = self.message
        return {
            "n": n,
            "device": msg.device,
            "seq": msg.seq,
            "ts": msg.ts_ms,
            "site": msg.site,
            "topic": self.topic,
            "format": self.fmt,
            "qos": self.qos,
            "readings": [
                {
                    "sensor": r.sensor,
                    "value": r.value,
                    "ts": msg.reading_ts_ms(r),
                    "unit": r.unit,
                    "fault": self.reading_faults.get(r.sensor),
                }
                for r in msg.readings
            ],
            "fault": self.labels[0] if self.labels else None,
            "faults": list(self.labels),
            "malformed": self.malformed,
            "duplicate": self.duplicate,
            "sent": self.payload is not None,
            "acked": acked,
            "degradation": self.degradation,
        }


class Source(Protocol):
    """Produces the publishes of a run, in the order they should go out."""

    #: Messages produced so far (a duplicate publish is not a new message).
    produced: int

    def __iter__(self) -> Iterator[list[Outgoing]]:
        """Each step: the publishes of one produced message (plus released held-back ones)."""
        ...

    def flush(self) -> list[Outgoing]:
        """Publishes still held back when the run stops (out-of-order faults)."""
        ...
