"""The pipeline: decode → validate → de-duplicate → score → buffer, or dead-letter.

:meth:`Pipeline.handle` runs inside the intake's group-commit transaction, so each message's
outcome (buffered rows, a dead letter, or a duplicate noted) is durable before its PUBACK.
Nothing a device sends can stop the stream: every failure becomes a dead letter with a reason.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum

from firmware_protocol.errors import DecodeError
from firmware_protocol.model import Message
from firmware_protocol.topics import Route, Subscription
from gateway.buffer import Buffer, Lane, NewRow
from gateway.db import Database
from gateway.deadletter import DeadLetterStore
from gateway.dedup import DedupWindow
from gateway.metrics import Metrics
from gateway.scoring import AnomalyEvent, Scorer

log = logging.getLogger("gateway.pipeline")


class Outcome(Enum):
    BUFFERED = "buffered"
    DUPLICATE = "duplicate"
    DEAD_LETTERED = "dead_lettered"


@dataclass(frozen=True, slots=True)
class Incoming:
    """A message as the intake received it."""

    topic: str
    payload: bytes
    received_ms: int


class Pipeline:
    """Turns received MQTT messages into buffered rows, dead letters or noted duplicates."""

    def __init__(
        self,
        db: Database,
        subscriptions: list[Subscription],
        buffer: Buffer,
        dead_letters: DeadLetterStore,
        dedup: DedupWindow,
        metrics: Metrics,
        scorer: Scorer | None = None,
        on_anomaly: Callable[[AnomalyEvent], None] | None = None,
    ) -> None:
        self._db = db
        self._subscriptions = subscriptions
        self._buffer = buffer
        self._dead = dead_letters
        self._dedup = dedup
        self._metrics = metrics
        self._scorer = scorer
        self._on_anomaly = on_anomaly

    def handle(self, batch: Sequence[Incoming]) -> list[Outcome]:
        """Process ``batch`` in one transaction; the outcome of each message, in order."""
        rows: list[NewRow] = []
        events: list[AnomalyEvent] = []
        outcomes: list[Outcome] = []
        with self._db.transaction():
            for item in batch:
                outcomes.append(self._one(item, rows, events))
            self._buffer.append(rows)
            if events and self._on_anomaly is not None:
                self._db.after_commit(lambda: self._publish(events))
        m = self._metrics
        for outcome in Outcome:
            n = outcomes.count(outcome)
            if n:
                m.inc("iotgw_messages_total", n, outcome=outcome.value,
                      help="MQTT messages by outcome (buffered, duplicate, dead_lettered)")
        m.inc("iotgw_readings_buffered_total", sum(r.count for r in rows if r.lane == Lane.BULK),
              help="readings committed to the buffer")
        if events:
            m.inc("iotgw_anomalies_total", len(events), help="anomaly events raised")
        return outcomes

    def _publish(self, events: list[AnomalyEvent]) -> None:
        assert self._on_anomaly is not None
        for event in events:
            try:
                self._on_anomaly(event)
            except Exception:  # a notification must never undo a commit
                log.exception("could not publish an anomaly event")

    def _one(self, item: Incoming, rows: list[NewRow], events: list[AnomalyEvent]) -> Outcome:
        try:
            route = self._route(item)
        except DecodeError as exc:  # the topic names an unknown format
            return self._dead_letter(item, "", exc.reason, str(exc))
        if route is None:
            return self._dead_letter(item, "", "no_route", "no subscription matches the topic")
        codec = route.codec.name
        try:
            # Every registered codec validates what it decodes (firmware_protocol's contract).
            msg = route.codec.decode(item.payload, route.context)
        except DecodeError as exc:
            return self._dead_letter(item, codec, exc.reason, str(exc))
        except Exception as exc:  # a codec bug must not take the stream down
            log.exception("codec %s crashed on a payload from %s", codec, item.topic)
            return self._dead_letter(item, codec, "decoder_crash", repr(exc))
        if self._dedup.check_and_add(msg.device, msg.seq, msg.ts_ms):
            return Outcome.DUPLICATE
        rows.append(NewRow(Lane.BULK, msg.device, len(msg.readings), reading_objects(msg)))
        if self._scorer is not None:
            for event in self._score(msg):
                events.append(event)
                rows.append(NewRow(Lane.PRIORITY, msg.device, 1,
                                   json.dumps(event.to_dict(), separators=(",", ":"))))
        return Outcome.BUFFERED

    def _route(self, item: Incoming) -> Route | None:
        for subscription in self._subscriptions:
            route = subscription.route(item.topic, item.received_ms)
            if route is not None:
                return route
        return None

    def _score(self, msg: Message) -> list[AnomalyEvent]:
        assert self._scorer is not None
        out = []
        for r in msg.readings:
            if isinstance(r.value, bool):
                continue
            try:
                event = self._scorer.observe(msg.device, r.sensor, msg.reading_ts_ms(r),
                                             float(r.value), msg.site)
            except Exception:  # a detector bug must not take the stream down
                log.exception("scorer failed on %s/%s", msg.device, r.sensor)
                self._metrics.inc("iotgw_scorer_errors_total", help="scorer exceptions")
                continue
            if event is not None:
                out.append(event)
        return out

    def _dead_letter(self, item: Incoming, codec: str, reason: str, detail: str) -> Outcome:
        self._dead.add_payload(item.topic, codec, reason, detail, item.payload)
        self._metrics.inc("iotgw_dead_letters_total", reason=reason,
                          help="payloads dead-lettered, by reason")
        log.info("dead-lettered a payload on %s: %s (%s)", item.topic, reason, detail)
        return Outcome.DEAD_LETTERED


def reading_objects(msg: Message) -> str:
    """The message's readings as the ingest API's reading objects, comma-joined JSON.

    Built by hand (this runs for every reading): strings through :func:`_jstr`, numbers with
    ``repr`` (codecs reject NaN and infinities, so ``repr`` is valid JSON), booleans literally.

    >>> from firmware_protocol.model import Reading
    >>> m = Message("d'1", 7, 1000, (Reading("t", 1.5, unit="Cel"), Reading("on", True)),
    ...             site="s")
    >>> first, second = json.loads("[" + reading_objects(m) + "]")
    >>> first
    {'device': "d'1", 'sensor': 't', 'ts': 1000, 'value': 1.5, 'seq': 7, 'unit': 'Cel', 'site': 's'}
    >>> second["value"], json.loads(_jstr('quote " and \\\\ backslash'))
    (True, 'quote " and \\\\ backslash')
    """
    head = f'{{"device":{_jstr(msg.device)},"sensor":'
    tail = f',"seq":{msg.seq}'
    site = "}" if msg.site is None else f',"site":{_jstr(msg.site)}}}'
    parts = []
    for r in msg.readings:
        v = r.value
        value = ("true" if v else "false") if isinstance(v, bool) else repr(v)
        extra = "" if r.unit is None else f',"unit":{_jstr(r.unit)}'
        if r.quality:
            extra += f',"quality":{int(r.quality)}'
        parts.append(f'{head}{_jstr(r.sensor)},"ts":{msg.ts_ms + r.offset_ms},"value":{value}'
                     f'{tail}{extra}{site}')
    return ",".join(parts)


@functools.lru_cache(maxsize=65536)
def _jstr(text: str) -> str:
    """A JSON string literal (names repeat endlessly, so it is cached)."""
    return json.dumps(text, ensure_ascii=False)
