"""The pipeline: decode → validate → de-duplicate → score → buffer, or dead-letter.

:meth:`Pipeline.prepare` decides each message's outcome and scores it outside any
transaction; :meth:`Pipeline.write` writes the outcomes (buffered rows, dead letters,
de-duplication slots) in the processing stage's transaction, with its cursor.
Nothing a device sends can stop the stream: every failure becomes a dead letter with a reason.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum

from firmware_protocol.topics import Subscription
from gateway.buffer import Buffer, Lane, NewRow
from gateway.db import Database
from gateway.deadletter import DeadLetterStore
from gateway.decoding import Decoded, Decoder, Rejected, Result
from gateway.dedup import DedupWindow
from gateway.metrics import GatewayMetrics
from gateway.ratelog import RateLimitedLog
from gateway.scoring import AnomalyEvent, BatchScorer, Scorer, score_message
from ingest_protocol.encode import anomaly_object

log = logging.getLogger("gateway.pipeline")


class Outcome(Enum):
    BUFFERED = "buffered"
    DUPLICATE = "duplicate"
    DEAD_LETTERED = "dead_lettered"


@dataclass(slots=True)
class Prepared:
    """A batch with its outcomes decided and its new messages scored, ready to be written."""

    batch: Sequence[Incoming]
    results: Sequence[Result]
    outcomes: list[Outcome] = field(default_factory=list)
    rows: list[NewRow] = field(default_factory=list)
    events: list[AnomalyEvent] = field(default_factory=list)


@dataclass(slots=True)
class Begun:
    """A batch whose outcomes are decided and whose new messages are being scored: ``found``
    holds the events of the messages at ``scored`` (indexes into ``new``), or is None while a
    score worker computes them."""

    prepared: Prepared
    new: list[Decoded]
    scored: list[int]
    found: list[list[AnomalyEvent]] | None

    @property
    def elsewhere(self) -> bool:
        """Whether the scores are being computed by another process right now."""
        return self.found is None


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
        metrics: GatewayMetrics,
        scorer: Scorer | None = None,
        on_anomaly: Callable[[AnomalyEvent], None] | None = None,
        bad_payload_log: RateLimitedLog | None = None,
    ) -> None:
        self._db = db
        self._subscriptions = subscriptions
        self._buffer = buffer
        self._dead = dead_letters
        self._dedup = dedup
        self._metrics = metrics
        self._scorer = scorer
        self._on_anomaly = on_anomaly
        self._bad_log = bad_payload_log or RateLimitedLog(log, burst=5, interval_s=60.0)
        self._decoder = Decoder(subscriptions, scorer is not None)

    @property
    def subscriptions(self) -> list[Subscription]:
        return self._subscriptions

    @property
    def wants_messages(self) -> bool:
        """Whether decoded results must carry the message (a scorer reads its readings)."""
        return self._scorer is not None

    def decode(self, batch: Sequence[Incoming]) -> list[Result]:
        """Decode ``batch`` inline (the intake may instead use a worker process)."""
        one = self._decoder.decode
        return [one(i.topic, i.payload, i.received_ms) for i in batch]

    def handle(self, batch: Sequence[Incoming],
               decoded: Sequence[Result] | None = None) -> list[Outcome]:
        """Process ``batch`` (decoded already, or here) in one transaction; outcomes in order."""
        prepared = self.prepare(batch, decoded)
        with self._db.transaction():
            return self.write(prepared)

    def prepare(self, batch: Sequence[Incoming],
                decoded: Sequence[Result] | None = None) -> Prepared:
        """Decide each message's outcome and score what is new, **outside** any transaction:
        the database (shared with the uplink, whose deletes wait for it) is held only while
        :meth:`write` writes. Only this stage writes the de-duplication window, so what it
        holds now is what :meth:`write` will find; duplicates within ``batch`` are found here
        too. A detector learns here, so a batch whose write fails and is retried is learnt
        twice: detector learning is not part of the promise (see gateway.processor)."""
        return self.finish(self.begin(batch, decoded))

    def begin(self, batch: Sequence[Incoming],
              decoded: Sequence[Result] | None = None) -> Begun:
        """The first half of :meth:`prepare`: outcomes decided, and the new messages handed
        to a score worker (:attr:`Begun.elsewhere`: the caller may do other work until
        :meth:`finish`) or scored here."""
        results = self.decode(batch) if decoded is None else decoded
        prepared = Prepared(batch, results)
        window = self._dedup.window
        fresh: dict[tuple[str, int], tuple[int, int]] = {}  # slots this batch takes
        if len(results) != len(batch):
            raise ValueError(f"{len(results)} results for {len(batch)} messages")
        new: list[Decoded] = []
        for result in results:
            if isinstance(result, Rejected):
                prepared.outcomes.append(Outcome.DEAD_LETTERED)
                continue
            device, seq, ts = result.device, result.seq, result.ts_ms
            held = fresh.get((device, seq % window))
            if (held == (seq, ts)) if held is not None else self._dedup.seen(device, seq, ts):
                prepared.outcomes.append(Outcome.DUPLICATE)
                continue
            fresh[(device, seq % window)] = (seq, ts)
            new.append(result)
            prepared.outcomes.append(Outcome.BUFFERED)
        return self._score_begin(prepared, new)

    def finish(self, begun: Begun) -> Prepared:
        """The second half of :meth:`prepare`: the scores, and the rows to write."""
        prepared, new = begun.prepared, begun.new
        rows, events = prepared.rows, prepared.events
        scored = self._score_finish(begun)
        for result, found in zip(new, scored, strict=True):
            rows.append(NewRow(Lane.BULK, result.device, result.readings, result.body))
            for event in found:
                events.append(event)
                rows.append(NewRow(Lane.PRIORITY, result.device, 1, anomaly_object(event)))
        return prepared

    def _score_begin(self, prepared: Prepared, new: list[Decoded]) -> Begun:
        scorer = self._scorer
        if scorer is None:
            return Begun(prepared, new, [], [])
        todo = [(i, (r.device, r.scoring)) for i, r in enumerate(new) if r.scoring is not None]
        if isinstance(scorer, BatchScorer):
            scorer.submit([item for _, item in todo])
            return Begun(prepared, new, [i for i, _ in todo], None)
        found = [score_message(scorer, device, scoring, self._metrics.scorer_errors.inc)
                 for _, (device, scoring) in todo]
        return Begun(prepared, new, [i for i, _ in todo], found)

    def _score_finish(self, begun: Begun) -> list[list[AnomalyEvent]]:
        """Each new message's anomaly events (none without a scorer), in order."""
        found = begun.found
        if found is None:
            assert isinstance(self._scorer, BatchScorer)
            found = self._scorer.collect(self._metrics.scorer_errors.inc)
        out: list[list[AnomalyEvent]] = [[] for _ in begun.new]
        for i, events in zip(begun.scored, found, strict=True):
            out[i] = events
        return out

    def write(self, prepared: Prepared) -> list[Outcome]:
        """Write what :meth:`prepare` decided (dead letters, de-duplication slots, rows), in
        the caller's transaction; metrics and anomaly notifications follow its commit."""
        for item, result, outcome in zip(prepared.batch, prepared.results, prepared.outcomes,
                                         strict=True):
            if isinstance(result, Rejected):
                self._dead_letter(item, result.codec, result.reason, result.detail)
            elif outcome is Outcome.BUFFERED:
                self._dedup.check_and_add(result.device, result.seq, result.ts_ms)
        self._buffer.append(prepared.rows)
        self._db.after_commit(lambda: self._count(prepared))
        return prepared.outcomes

    def _count(self, prepared: Prepared) -> None:
        m, outcomes, events = self._metrics, prepared.outcomes, prepared.events
        for outcome in Outcome:
            n = outcomes.count(outcome)
            if n:
                m.messages.labels(outcome=outcome.value).inc(n)
        m.messages_decoded.inc(sum(isinstance(r, Decoded) for r in prepared.results))
        m.readings_buffered.inc(sum(r.count for r in prepared.rows if r.lane == Lane.BULK))
        if events:
            m.anomalies.inc(len(events))
            if self._on_anomaly is not None:
                self._publish(events)

    def _publish(self, events: list[AnomalyEvent]) -> None:
        assert self._on_anomaly is not None
        for event in events:
            try:
                self._on_anomaly(event)
            except Exception:  # a notification must never undo a commit
                log.exception("could not publish an anomaly event")

    def _dead_letter(self, item: Incoming, codec: str, reason: str, detail: str) -> Outcome:
        self._dead.add_payload(item.topic, codec, reason, detail, item.payload)
        self._metrics.dead_letters.labels(reason=reason).inc()
        self._bad_log.info(reason, "dead-lettered a payload on %s: %s (%s)", item.topic, reason,
                           detail[:200])
        return Outcome.DEAD_LETTERED
