"""Idempotent ingest: validate a batch, write it to the store, answer only after it is stored.

The order of checks is the contract's: body limits (413), JSON (400), envelope (422), gateway
mismatch (403), batch limits (413), load (429), the Idempotency-Key (replay, 422, 409), then the
store write. A reading that breaks the data model's rules, or that the store refuses, is
rejected with its index and reason and kept in the dead-letter table. If the store is down
nothing is acknowledged (503) and the key is released, so the gateway's retry runs afresh.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from cloud.errors import CloudError, KeyInFlight, KeyReused, RequestRejected
from cloud.meta import DeadLetter, DeadLetters, DeviceRegistry, IdempotencyRepo, SeenStream
from cloud.meta.ownership import DeviceOwnership
from cloud.metrics import CloudMetrics
from cloud.settings import LimitsSettings
from cloud.store import AnomalyPoint, Point, Rejection, TimeSeriesStore
from cloud.store.columns import LazyPoints, without, write_series
from ingest_protocol import (
    Checked,
    Envelope,
    EnvelopeRejected,
    ValidEnvelope,
    check_anomalies,
    check_future,
    check_limits,
    check_readings,
    fast_parse,
    needs_byte_check,
    parse_envelope,
)
from ingest_protocol.columns import Series, ValidBatch
from ingest_protocol.compact import to_json as compact_to_json
from ingest_protocol.receive import counted, fast_batch

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StoredBatch:
    """What one ingest request stored, as listeners (alert rules, pipeline health) see it."""

    gateway_id: str
    batch_id: str
    received_ms: int
    points: Sequence[Point]  #: the readings the store accepted
    anomalies: list[AnomalyPoint]  #: the anomalies the store accepted
    rejected: list[Rejection]  #: rejected readings (indexes into the batch's readings)
    #: the accepted readings per series, when the batch took the fast path (else empty)
    series: Sequence[Series] = ()


#: Called after a batch is stored and acknowledged; must be quick (hand work to a queue).
IngestListener = Callable[[StoredBatch], None]


@dataclass(frozen=True, slots=True)
class IngestOutcome:
    """The response to send: status, JSON body, and whether it is a replay."""

    status: int
    body: str
    replayed: bool = False


def _as_json(raw: bytes, media: str | None) -> bytes:
    """The JSON batch of a body the lean path took (a compact one is transcoded)."""
    return raw if media is None else compact_to_json(raw, media)


def _fast_parse(raw: bytes, max_entries: int | None = None) -> ValidEnvelope | None:
    """The contract's one-pass parse (:func:`ingest_protocol.fast_parse`)."""
    return fast_parse(raw, max_entries)


def _unpack(checked: Checked) -> tuple[list[int], list[Any], list[Rejection]]:
    return (checked.index, checked.entries,
            [Rejection(r.index, "invalid", r.reason) for r in checked.rejected])


def _entries(env: Envelope, raw: bytes, now_ms: int, max_future_ms: int) -> tuple[
        list[int], list[Any], list[Rejection], list[int], list[Any], list[Rejection]]:
    """Valid readings and anomalies with their indexes in the batch, and the rejections
    (entries stamped beyond ``now_ms + max_future_ms`` included)."""
    if isinstance(env, ValidEnvelope):
        readings = Checked(list(range(len(env.readings))), env.readings, [])
        anomalies = Checked(list(range(len(env.anomalies))), env.anomalies, [])
    else:
        byte_limits = needs_byte_check(raw)  # only then can a name hold non-ASCII
        readings = check_readings(env.readings, byte_limits)
        anomalies = check_anomalies(env.anomalies, byte_limits)
    return (*_unpack(check_future(readings, now_ms, max_future_ms)),
            *_unpack(check_future(anomalies, now_ms, max_future_ms)))


def _newest_per_stream(series: Sequence[Series]) -> list[SeenStream]:
    """Each stream's newest reading among ``series`` (one pass, one tuple per stream)."""
    newest: dict[tuple[str, str], SeenStream] = {}
    for s in series:
        if not s.ts:
            continue
        ts = max(s.ts)
        key = (s.device, s.sensor)
        cur = newest.get(key)
        if cur is None or ts > cur.ts_ms:
            newest[key] = SeenStream(s.device, s.sensor, ts, s.site, s.unit)
    return list(newest.values())


class IngestService:
    """``POST /v1/ingest`` behind the HTTP layer."""

    def __init__(self, store: TimeSeriesStore, idempotency: IdempotencyRepo,
                 devices: DeviceRegistry, dead_letters: DeadLetters, metrics: CloudMetrics,
                 limits: LimitsSettings, ownership: DeviceOwnership | None = None) -> None:
        self.store = store
        self.ownership = ownership
        self.idempotency = idempotency
        self.devices = devices
        self.dead_letters = dead_letters
        self.limits = limits
        self._slots = threading.BoundedSemaphore(limits.max_concurrent_ingest)
        self.m = metrics
        self._listeners: list[IngestListener] = []

    def add_listener(self, listener: IngestListener) -> None:
        """Call ``listener`` with every stored batch (after the store accepted it). A listener
        that raises is logged and counted; it never fails the ingest request."""
        self._listeners.append(listener)

    def _notify(self, batch: StoredBatch) -> None:
        for listener in self._listeners:
            try:
                listener(batch)
            except Exception:
                self.m.ingest_listener_errors.inc()
                log.exception("ingest listener %r failed", listener)

    def parse(self, raw: bytes, token_gateway: str, media: str | None = None
              ) -> tuple[Envelope, str]:
        """The envelope of a decompressed body and the hash of those bytes (see
        :meth:`_parse`)."""
        env, body_hash, _batch, _raw = self._parse(raw, token_gateway, media)
        return env, body_hash

    def _parse(self, raw: bytes, token_gateway: str, media: str | None
               ) -> tuple[Envelope, str, ValidBatch | None, bytes]:
        """The envelope of a decompressed body and the hash of those bytes.

        Rejects bad JSON (400), bad envelopes (422), another gateway's batch (403) and
        oversize batches (413). The hash is of the decompressed bytes, so a retry matches its
        Idempotency-Key whether or not it is compressed, as long as it sends the same JSON
        (the gateway keeps the serialised batch; hashing a canonical form instead cost a
        third of the ingest time).

        The common body is taken by the lean path (:meth:`_lean_parse`: msgspec, held per
        series, stored by :meth:`_store_series`); a body it cannot prove valid tries the
        one-pass pydantic parse into a :class:`ValidEnvelope`, then the entry-by-entry path,
        which alone decides statuses and rejection reasons. A compact body (``media``) that
        the lean path does not take is judged as the JSON batch it flattens to; the hash is
        still of the bytes received.
        """
        body_hash = hashlib.sha256(raw).hexdigest()
        env, batch, raw = self._lean_parse(raw, media)
        if env is None:
            env = self._slow_parse(raw)
        if env.gateway_id != token_gateway:
            raise RequestRejected(403, f"the token belongs to gateway {token_gateway!r}, "
                                       f"not {env.gateway_id!r}")
        try:
            check_limits(env, self.limits.max_readings_per_batch,
                         self.limits.max_anomalies_per_batch)
        except EnvelopeRejected as exc:
            raise RequestRejected(exc.status, exc.detail) from None
        return env, body_hash, batch, raw

    def _lean_parse(self, raw: bytes, media: str | None) -> tuple[Envelope | None,
                                                                 ValidBatch | None, bytes]:
        """The lean path (:mod:`ingest_protocol.receive`): a body a msgspec parser proves
        valid, held per series; else the JSON batch (a compact body transcoded) for the
        one-pass pydantic parse and then the entry-by-entry path. A batch holding an entry
        stamped beyond now + ``max_future_skew_s`` goes the exact way, which words the
        rejection."""
        limits = self.limits
        max_ts = int(time.time() * 1000) + round(limits.max_future_skew_s * 1000)
        try:
            batch, raw = fast_batch(raw, media, max_ts)
        except EnvelopeRejected as exc:
            raise RequestRejected(exc.status, exc.detail) from None
        if batch is not None:
            return counted(batch), batch, raw
        return _fast_parse(raw, limits.max_readings_per_batch + limits.max_anomalies_per_batch
                           ), None, raw

    @staticmethod
    def _slow_parse(raw: bytes) -> Envelope:
        try:
            return parse_envelope(raw)
        except EnvelopeRejected as exc:
            raise RequestRejected(exc.status, exc.detail) from None

    def ingest(self, raw: bytes, token_gateway: str, key: str, media: str | None = None
               ) -> IngestOutcome:
        """Handle one decompressed body (``media``: a compact media type, or None for the
        JSON batch); raises CloudError subclasses the API maps to statuses."""
        try:
            outcome = self._ingest(raw, token_gateway, key, media)
        except RequestRejected as exc:
            self.m.ingest_requests.labels(status=str(exc.status)).inc()
            raise
        except KeyReused:
            self.m.ingest_requests.labels(status="422").inc()
            raise
        except KeyInFlight:
            self.m.ingest_requests.labels(status="409").inc()
            raise
        except CloudError:
            self.m.ingest_requests.labels(status="error").inc()
            raise
        status = "replay" if outcome.replayed else str(outcome.status)
        self.m.ingest_requests.labels(status=status).inc()
        return outcome

    def _ingest(self, raw: bytes, token_gateway: str, key: str, media: str | None
                ) -> IngestOutcome:
        # The slot is taken before the parse: parsing a large batch is the expensive part.
        if not self._slots.acquire(blocking=False):
            raise RequestRejected(429, "too many ingest requests in progress; retry later")
        try:
            return self._ingest_in_slot(raw, token_gateway, key, media)
        finally:
            self._slots.release()

    def _ingest_in_slot(self, raw: bytes, token_gateway: str, key: str, media: str | None
                        ) -> IngestOutcome:
        env, body_hash, batch, raw = self._parse(raw, token_gateway, media)
        stored = self.idempotency.claim(env.gateway_id, key, body_hash)
        if stored is not None:
            return IngestOutcome(stored.status_code, stored.body, replayed=True)
        try:
            with self.m.ingest_in_flight.track_inprogress():
                if batch is not None and not self._all_owned(env.gateway_id, batch):
                    # Another gateway's device: the entry-by-entry path rejects exactly
                    # those readings (`device_not_owned`) and stores the rest.
                    raw = _as_json(raw, media)
                    batch, env = None, _fast_parse(raw) or self._slow_parse(raw)
                body, stored_batch = (self._store(env, raw) if batch is None
                                      else self._store_series(env, batch, raw, media))
        except BaseException:
            self.idempotency.release(env.gateway_id, key)
            raise
        self.idempotency.complete(env.gateway_id, key, 200, body)
        self._notify(stored_batch)
        return IngestOutcome(200, body)

    def _all_owned(self, gateway_id: str, batch: ValidBatch) -> bool:
        """Whether ``gateway_id`` may write every device of a lean batch (claiming the
        unowned ones, as the entry-by-entry path does); always with ownership off."""
        if self.ownership is None:
            return True
        devices = {s.device for s in batch.series} | {a["device"] for a in batch.anomalies}
        if not devices:
            return True
        owner = self.ownership.owners(gateway_id, devices)
        return all(owner.get(d, gateway_id) == gateway_id for d in devices)

    def _store(self, env: Envelope, raw: bytes) -> tuple[str, StoredBatch]:
        r_index, readings, bad, a_index, anomalies, bad_a = _entries(
            env, raw, int(time.time() * 1000), round(self.limits.max_future_skew_s * 1000))
        if self.ownership is not None:  # another gateway's devices: rejected per entry
            gw = env.gateway_id
            own = self.ownership.keep_owned
            r_index, readings, bad = own(gw, r_index, readings, bad, Rejection)
            a_index, anomalies, bad_a = own(gw, a_index, anomalies, bad_a, Rejection)
        points = [Point(r["device"], r["sensor"], r["ts"], float(r["value"]), r["seq"],
                        r.get("unit"), r.get("quality", 0), r.get("site")) for r in readings]
        apoints = [AnomalyPoint.from_dict(a) for a in anomalies]
        t0 = time.perf_counter()
        result = self.store.write(points, apoints)
        self.m.store_write_duration.observe(time.perf_counter() - t0)
        # Store rejections index into `points`; map them back to the batch's indexes.
        bad += [Rejection(r_index[r.index], r.code, r.reason) for r in result.rejected]
        bad_a += [Rejection(a_index[r.index], r.code, r.reason)
                  for r in result.anomalies_rejected]
        bad.sort(key=lambda r: r.index)
        bad_a.sort(key=lambda r: r.index)
        self._dead_letter(env, raw, bad, bad_a)
        if result.rejected:
            refused = {r.index for r in result.rejected}
            points = [p for i, p in enumerate(points) if i not in refused]
        if result.anomalies_rejected:
            refused = {r.index for r in result.anomalies_rejected}
            apoints = [a for i, a in enumerate(apoints) if i not in refused]
        self.devices.record(env.gateway_id, self._seen(points))
        self.m.ingest_readings.inc(len(points))
        body = json.dumps({
            "accepted": len(points),
            "rejected": [{"index": r.index, "reason": r.reason} for r in bad],
            "anomalies_accepted": len(apoints),
            "anomalies_rejected": [{"index": r.index, "reason": r.reason} for r in bad_a],
        })
        return body, StoredBatch(env.gateway_id, env.batch_id, int(time.time() * 1000), points,
                                 apoints, bad)

    def _store_series(self, env: Envelope, batch: ValidBatch, raw: bytes,
                      media: str | None = None) -> tuple[str, StoredBatch]:
        """:meth:`_store` for a batch the lean path proved valid: written and handed to the
        listeners per series (``raw`` as received: a compact body, ``media``, is transcoded
        to JSON only when dead letters need its entries)."""
        apoints = [AnomalyPoint.from_dict(a) for a in batch.anomalies]
        t0 = time.perf_counter()
        result = write_series(self.store, batch.series, apoints)
        self.m.store_write_duration.observe(time.perf_counter() - t0)
        bad, bad_a = result.rejected, result.anomalies_rejected
        series = batch.series
        if bad or bad_a:
            raw = _as_json(raw, media)  # dead letters keep the entries as JSON
            self._dead_letter(parse_envelope(raw), raw, bad, bad_a)
            series = without(series, {r.index for r in bad})
            refused = {r.index for r in bad_a}
            apoints = [a for i, a in enumerate(apoints) if i not in refused]
        self.devices.record(env.gateway_id, _newest_per_stream(series))
        accepted = batch.count - len(bad)
        self.m.ingest_readings.inc(accepted)
        body = json.dumps({
            "accepted": accepted,
            "rejected": [{"index": r.index, "reason": r.reason} for r in bad],
            "anomalies_accepted": len(apoints),
            "anomalies_rejected": [{"index": r.index, "reason": r.reason} for r in bad_a],
        })
        return body, StoredBatch(env.gateway_id, env.batch_id, int(time.time() * 1000),
                                 LazyPoints(series), apoints, bad, series)

    def _dead_letter(self, env: Envelope, raw: bytes, bad: list[Rejection],
                     bad_a: list[Rejection]) -> None:
        if not bad and not bad_a:
            return
        if isinstance(env, ValidEnvelope):  # keep the entries as sent, not as validated
            env = parse_envelope(raw)
        entries = [DeadLetter("reading", r.index, r.code, r.reason, env.readings[r.index])
                   for r in bad]
        entries += [DeadLetter("anomaly", r.index, r.code, r.reason, env.anomalies[r.index])
                    for r in bad_a]
        for e in entries:
            self.m.ingest_rejected.labels(kind=e.kind, reason=e.code).inc()
        self.dead_letters.add(env.gateway_id, env.batch_id, entries)

    @staticmethod
    def _seen(points: Any) -> list[SeenStream]:
        newest: dict[tuple[str, str], Point] = {}
        for p in points:
            cur = newest.get((p.device, p.sensor))
            if cur is None or p.ts_ms > cur.ts_ms:
                newest[(p.device, p.sensor)] = p
        return [SeenStream(p.device, p.sensor, p.ts_ms, p.site, p.unit) for p in newest.values()]
