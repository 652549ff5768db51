"""The fast path of the JSON batch: msgspec parses and checks the common body in one C pass.

It accepts only what it can prove valid cheaply, and answers None for anything else, which
then takes the exact path (:func:`ingest_protocol.validate.judge`): that path alone decides
statuses and rejection reasons, so this module never words a reason. What it proves:

- the body is ASCII without a single backslash, so no string holds an escape, a control
  character (a raw one is not JSON), a non-ASCII character (nothing to normalise, no byte
  limit beyond the character limit, no invisible or bidi character) nor a backslash (the
  name pattern then only asks for a non-empty string);
- no nesting beyond the envelope, its lists and their entries (unknown fields holding
  objects or lists are left to the exact path's depth rules);
- every field's type is the canonical one (strict: no numbers in strings, no ``1.0`` for an
  integer) and within the contract's bounds (:data:`READING_META` etc. mirror
  :mod:`ingest_protocol.model`), values finite, ``v`` supported.

**Mirroring a rule**: a rule added to :mod:`ingest_protocol.validate` either cannot hold for
what this path accepts (say so in a comment here), or gets a cheap check here that makes the
body fall back. The conformance suite runs every vector through this module too, so a rule
the fast path would let through shows up as a drift.

>>> raw = b'{"gateway_id":"g","batch_id":"b","readings":[{"device":"d","sensor":"t",' \\
...       b'"ts":1700000000000,"value":1.5,"seq":1}]}'
>>> batch = parse_json(raw)
>>> batch.count, batch.series[0].value
(1, [1.5])
>>> parse_json(raw.replace(b"1.5", b'"1.5"')) is None   # lenient forms: the exact path
True
"""

from __future__ import annotations

from math import isfinite
from typing import Annotated, Any

import msgspec

from firmware_protocol.model import MAX_NAME_LEN, MAX_SEQ, MAX_TS_MS, MAX_UNIT_LEN, MIN_TS_MS
from ingest_protocol.columns import Series, ValidBatch
from ingest_protocol.model import (
    MAX_BATCH_ID_LEN,
    MAX_GATEWAY_ID_LEN,
    MAX_QUALITY,
    SUPPORTED_VERSIONS,
    VERSION,
)

# Character limits; byte limits are the same number for the ASCII bodies this path takes.
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_NAME_LEN)]
Unit = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_UNIT_LEN)]
Ts = Annotated[int, msgspec.Meta(ge=MIN_TS_MS, le=MAX_TS_MS)]
Seq = Annotated[int, msgspec.Meta(ge=0, le=MAX_SEQ)]
Quality = Annotated[int, msgspec.Meta(ge=0, le=MAX_QUALITY)]
GatewayId = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_GATEWAY_ID_LEN)]
BatchId = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_BATCH_ID_LEN)]


class FastReading(msgspec.Struct, gc=False):
    """A reading entry (unknown fields ignored, as the contract says)."""

    device: Name
    sensor: Name
    ts: Ts
    value: bool | float
    seq: Seq
    unit: Unit | None = None
    quality: Quality = 0
    site: Name | None = None


class FastAnomaly(msgspec.Struct, gc=False):
    """An anomaly entry."""

    device: Name
    sensor: Name
    ts: Ts
    value: float
    score: float
    detector: Name
    expected_low: float | None = None
    expected_high: float | None = None
    site: Name | None = None


class FastEnvelope(msgspec.Struct):
    """The JSON batch."""

    gateway_id: GatewayId
    batch_id: BatchId
    readings: list[FastReading]
    v: int = VERSION
    sent_at: int | float | str | None = None
    anomalies: list[FastAnomaly] = []


_JSON = msgspec.json.Decoder(FastEnvelope)
_ANOMALY_FIELDS = FastAnomaly.__struct_fields__


def anomaly_entries(anomalies: list[FastAnomaly]) -> list[dict[str, Any]] | None:
    """The anomalies as validated wire dicts, or None when a number is not finite."""
    out = []
    for a in anomalies:
        entry = dict(zip(_ANOMALY_FIELDS, msgspec.structs.astuple(a), strict=True))
        for key in ("value", "score", "expected_low", "expected_high"):
            x = entry[key]
            if x is not None and not isfinite(x):
                return None
        out.append(entry)
    return out


def group(readings: list[FastReading]) -> list[Series] | None:
    """The readings per series in order of first appearance, or None when a value is not
    finite (the exact path words that)."""
    series: dict[tuple[str, str, str | None, str | None], Series] = {}
    get = series.get
    for i, r in enumerate(readings):
        key = (r.device, r.sensor, r.site, r.unit)
        s = get(key)
        if s is None:
            s = series[key] = Series(r.device, r.sensor, r.site, r.unit, [], [], [], [], [])
        s.ts.append(r.ts)
        s.value.append(r.value)
        s.seq.append(r.seq)
        s.quality.append(r.quality)
        s.index.append(i)
    out = list(series.values())
    for s in out:
        s.value = list(map(float, s.value))
        if not all(map(isfinite, s.value)):
            return None
    return out


def parse_json(raw: bytes) -> ValidBatch | None:
    """The JSON batch when every part of it is provably valid (see the module), else None."""
    if b"\\" in raw or not raw.isascii():
        return None
    try:
        env = _JSON.decode(raw)
    except (msgspec.MsgspecError, RecursionError):  # deep nesting: the exact path says 400
        return None
    if env.v not in SUPPORTED_VERSIONS:
        return None
    # Every "{" or "[" beyond the envelope, its lists and entries is nesting in unknown fields
    # (or text in strings): the exact path's rules decide those bodies.
    if raw.count(b"{") + raw.count(b"[") > 3 + len(env.readings) + len(env.anomalies):
        return None
    series = group(env.readings)
    anomalies = anomaly_entries(env.anomalies)
    if series is None or anomalies is None:
        return None
    return ValidBatch(env.v, env.gateway_id, env.batch_id, env.sent_at, series, anomalies,
                      len(env.readings))
