"""One publish the runner hands to the broker, and the source role that produces them.

A :class:`Source` yields, step by step, the publishes of one message: one normally, two for a
duplicate, a silent record (``payload None``) for a message a dropout kept off the air, plus any
held-back out-of-order message released after it. Each :class:`Outgoing` knows its manifest line
except the send index and the acknowledgement.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from firmware_protocol.model import Message

#: The manifest's line encoder (compact; ``json.dumps`` with options builds one per call).
encode_line = json.JSONEncoder(separators=(",", ":")).encode
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
    #: The device's manifest-line template; None: lines go through :meth:`record`.
    template: LineTemplate | None = None

    def line(self, n: int, acked: bool) -> str:
        """This publish's manifest line, as ``encode_line(self.record(n, acked))`` writes it;
        through the template when the message has nothing the template leaves out."""
        t = self.template
        if (t is not None and self.payload is not None and not self.labels
                and not self.reading_faults and not self.malformed and not self.duplicate
                and self.degradation is None):
            msg = self.message
            text = t.fill(n, msg.seq, msg.ts_ms, [r.value for r in msg.readings], acked)
            if text is not None:
                return text
        return encode_line(self.record(n, acked))

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


class LineTemplate:
    """One device's manifest line for a clean publish (no fault, no offsets, one reading per
    sensor of ``shape`` in that order, finite float values): about 2 us instead of ~20 for the
    dict and the JSON encoder. The text is byte-identical (a test compares them).

    >>> from firmware_protocol.model import Message, Reading
    >>> t = LineTemplate("d", "s", "t/d", "json", 1, (("temp", "Cel"),))
    >>> msg = Message("d", 4, 1000, (Reading("temp", 2.5, unit="Cel"),), site="s")
    >>> out = Outgoing(msg, b"x", "t/d", "json", 1, 0, template=t)
    >>> out.line(7, True) == encode_line(out.record(7, True))
    True
    """

    def __init__(self, device: str, site: str | None, topic: str, fmt: str, qos: int,
                 shape: Sequence[tuple[str, str | None]]) -> None:
        def e(value: object) -> str:  # JSON text, safe inside a %-template
            return encode_line(value).replace("%", "%%")

        self._head = f'{{"n":%d,"device":{e(device)},"seq":%d,"ts":%d,"site":{e(site)},' \
                     f'"topic":{e(topic)},"format":{e(fmt)},"qos":{e(qos)},"readings":['
        self._reading = [f'{{"sensor":{e(s)},"value":%r,"ts":%d,"unit":{e(u)},"fault":null}}'
                         for s, u in shape]
        tail = ('],"fault":null,"faults":[],"malformed":false,"duplicate":false,"sent":true,'
                '"acked":%s,"degradation":null}')
        self._tail = (tail % "false", tail % "true")

    def fill(self, n: int, seq: int, ts: int, values: list[Any], acked: bool) -> str | None:
        """The line, or None when the values do not fit the template."""
        if len(values) != len(self._reading):
            return None
        for v in values:
            if type(v) is not float or not math.isfinite(v):
                return None
        body = ",".join([r % (v, ts) for r, v in zip(self._reading, values, strict=True)])
        return self._head % (n, seq, ts) + body + self._tail[acked]


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
