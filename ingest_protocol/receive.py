"""A receiver's entry point: any body of the contract (the JSON batch or a compact one) to its
verdict, through the fast parsers first and the exact path for everything they do not take.

>>> raw = b'{"gateway_id":"g","batch_id":"b","readings":[]}'
>>> judge_any(raw, None, 10, 10).response()["accepted"]
0
"""

from __future__ import annotations

from typing import Any

from ingest_protocol import compact
from ingest_protocol.columns import ValidBatch
from ingest_protocol.fast import parse_json
from ingest_protocol.model import Envelope
from ingest_protocol.validate import Checked, Verdict, check_limits, judge


def fast_batch(raw: bytes, media: str | None, max_ts_ms: int | None = None
               ) -> tuple[ValidBatch | None, bytes]:
    """``(batch, json)``: the batch when a fast parser proves it valid, else None and the JSON
    batch to judge exactly (``raw`` itself, or a compact body transcoded; that raises
    :class:`~ingest_protocol.EnvelopeRejected` when the compact body is not a batch).

    ``max_ts_ms``: a receiver that refuses entries stamped later than that (its clock plus
    the skew it allows) passes it, and a batch holding one goes to the exact path, which
    words the rejection."""
    batch = None
    if media is not None:
        batch = compact.parse(raw, media)
        if batch is None:
            raw = compact.to_json(raw, media)
    if batch is None:
        batch = parse_json(raw)
    if batch is not None and max_ts_ms is not None and (batch.newest_ts() or 0) > max_ts_ms:
        if media is not None:
            raw = compact.to_json(raw, media)
        return None, raw
    return batch, raw


def counted(batch: ValidBatch) -> Envelope:
    """An envelope standing for ``batch`` in :func:`~ingest_protocol.check_limits` (the lists
    only have the right lengths)."""
    return Envelope.model_construct(
        v=batch.v, gateway_id=batch.gateway_id, batch_id=batch.batch_id,
        sent_at=batch.sent_at, readings=[None] * batch.count, anomalies=batch.anomalies)


def judge_any(raw: bytes, media: str | None, max_readings: int, max_anomalies: int,
              **kw: Any) -> Verdict:
    """The verdict on a decompressed body of media type ``media`` (None: the JSON batch)."""
    batch, raw = fast_batch(raw, media)
    if batch is None:
        return judge(raw, max_readings, max_anomalies, **kw)
    env = counted(batch)
    check_limits(env, max_readings, max_anomalies)
    readings = batch.readings
    return Verdict(env, Checked(list(range(batch.count)), readings, []),
                   Checked(list(range(len(batch.anomalies))), batch.anomalies, []))
