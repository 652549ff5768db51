"""The compact batch: readings grouped per series, as MessagePack or JSON (SPEC.md §8).

One ``series`` entry carries ``device``, ``sensor``, ``site`` and ``unit`` once, then parallel
arrays ``ts``, ``value``, ``seq`` and (when any is not 0) ``quality``. The readings of a
compact batch, in **flattened order** (series after series, each array in order), are the
``readings`` of the equivalent JSON batch: every rule, verdict and rejection index is the
JSON batch's. A receiver reads the common body straight into :class:`~ingest_protocol.columns.
Series` (:func:`parse`); anything it cannot prove valid cheaply is transcoded to the JSON
batch (:func:`to_json`) and judged by the exact path, which keeps every reason.

>>> body = compact_body("gw", "b1", 5, ['{"device":"d","sensor":"t","ts":1700000000000,'
...                     '"value":1.5,"seq":1}'], [], MSGPACK)
>>> batch = parse(body, MSGPACK)
>>> batch.series[0].device, batch.series[0].ts, batch.count
('d', [1700000000000], 1)
>>> json.loads(to_json(body, MSGPACK))["readings"][0]["value"]
1.5
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from itertools import chain
from math import isfinite
from operator import attrgetter
from typing import Any

import msgspec

from ingest_protocol.columns import Series, ValidBatch
from ingest_protocol.errors import EnvelopeRejected
from ingest_protocol.fast import (
    BatchId,
    FastAnomaly,
    GatewayId,
    Name,
    Quality,
    Seq,
    Ts,
    Unit,
    anomaly_entries,
)
from ingest_protocol.model import SUPPORTED_VERSIONS, VERSION

MSGPACK = "application/vnd.iotgw.batch.v1+msgpack"
COMPACT_JSON = "application/vnd.iotgw.batch.v1+json"
#: Media types of the compact batch (``Content-Type``); anything else is the JSON batch.
MEDIA_TYPES = (MSGPACK, COMPACT_JSON)


class WireSeries(msgspec.Struct, gc=False):
    """One series of a compact batch."""

    device: Name
    sensor: Name
    ts: list[Ts]
    value: list[bool | float]
    seq: list[Seq]
    site: Name | None = None
    unit: Unit | None = None
    quality: list[Quality] | None = None


class CompactEnvelope(msgspec.Struct):
    """The compact batch."""

    gateway_id: GatewayId
    batch_id: BatchId
    series: list[WireSeries]
    v: int = VERSION
    sent_at: int | float | str | None = None
    anomalies: list[FastAnomaly] = []


_MSGPACK_DECODER = msgspec.msgpack.Decoder(CompactEnvelope)
_JSON_DECODER = msgspec.json.Decoder(CompactEnvelope)


def _decode(raw: bytes, media: str) -> CompactEnvelope:
    if media == MSGPACK:
        return _MSGPACK_DECODER.decode(raw)
    return _JSON_DECODER.decode(raw)


def _decode_any(raw: bytes, media: str) -> Any:
    return msgspec.msgpack.decode(raw) if media == MSGPACK else msgspec.json.decode(raw)


def media_type(content_type: str | None) -> str | None:
    """The compact media type a ``Content-Type`` names, or None (the JSON batch)."""
    base = (content_type or "").split(";", 1)[0].strip().lower()
    return base if base in MEDIA_TYPES else None


def plain(name: str | None) -> bool:
    """A name the fast path may take as it is: printable ASCII without a backslash (so the
    name pattern, NFC and the byte limits hold without looking further)."""
    return name is None or (name.isascii() and name.isprintable() and "\\" not in name)


_SERIES_NAMES = tuple(map(attrgetter, ("device", "sensor", "site", "unit")))
_VALUE = attrgetter("value")


def _all_plain(items: Sequence[Any], names: Sequence[Callable[[Any], str | None]]) -> bool:
    """Whether every name of ``items`` is :func:`plain`, checked per field on the names'
    concatenation (one C pass each: the properties hold for a concatenation exactly when
    they hold for every part)."""
    return all(plain("".join(filter(None, map(name, items)))) for name in names)


def _floats(series: list[WireSeries]) -> list[float] | None:
    """Every value of the batch as a float, in flattened order; None when one is not finite
    (a finite sum proves them all finite; only an overflowing sum looks at each)."""
    flat = list(map(float, chain.from_iterable(map(_VALUE, series))))
    if not isfinite(sum(flat)) and not all(map(isfinite, flat)):
        return None
    return flat


def _series(wire: list[WireSeries]) -> tuple[list[Series], int] | None:
    """The series with their batch positions, and the readings; None unless every name is
    plain, every value finite and every series' arrays are of one length."""
    if not _all_plain(wire, _SERIES_NAMES):
        return None
    values = _floats(wire)
    if values is None:
        return None
    out, count = [], 0
    for w in wire:
        n = len(w.ts)
        quality = [0] * n if w.quality is None else w.quality
        if not (len(w.value) == len(w.seq) == len(quality) == n):
            return None
        end = count + n
        out.append(Series(w.device, w.sensor, w.site, w.unit, w.ts, values[count:end], w.seq,
                          quality, list(range(count, end))))
        count = end
    return out, count


def parse(raw: bytes, media: str) -> ValidBatch | None:
    """The compact batch when every part of it is provably valid, else None (then judge
    :func:`to_json`'s JSON batch)."""
    try:
        env = _decode(raw, media)
    except (msgspec.MsgspecError, RecursionError):  # deep nesting: the exact path says 400
        return None
    if env.v not in SUPPORTED_VERSIONS or not plain(env.gateway_id):
        return None
    series = _series(env.series)
    if series is None:
        return None
    out, count = series
    if not all(plain(a.device) and plain(a.sensor) and plain(a.detector) and plain(a.site)
               for a in env.anomalies):
        return None
    anomalies = anomaly_entries(env.anomalies)
    if anomalies is None:
        return None
    return ValidBatch(env.v, env.gateway_id, env.batch_id, env.sent_at, out, anomalies, count)


_ARRAYS = ("ts", "value", "seq")
_SHAPE = "ts, value and seq must be arrays of one length (and quality, when present)"


def _flatten(i: int, s: Any) -> list[dict[str, Any]]:
    if not isinstance(s, dict):
        raise EnvelopeRejected(422, f"invalid batch: series.{i}: Input should be an object")
    arrays = [s.get(k) for k in _ARRAYS]
    quality = s.get("quality")
    if quality is not None:
        arrays.append(quality)
    lists = [a for a in arrays if isinstance(a, list)]
    if len(lists) < len(arrays) or len({len(a) for a in lists}) > 1:
        raise EnvelopeRejected(422, f"invalid batch: series.{i}: {_SHAPE}")
    head = {k: s[k] for k in ("device", "sensor") if k in s}
    tail = {k: s[k] for k in ("unit", "site") if k in s}
    keys = [*_ARRAYS, "quality"] if quality is not None else list(_ARRAYS)
    return [{**head, **dict(zip(keys, row, strict=True)), **tail}
            for row in zip(*lists, strict=True)]


def _bytes_as_null(obj: Any) -> Any:
    if isinstance(obj, bytes | bytearray | memoryview):
        return None   # MessagePack binary is not a string: it fails as a missing value
    raise TypeError(f"{type(obj).__name__} is not part of the contract")


def to_json(raw: bytes, media: str) -> bytes:
    """The JSON batch equivalent to a compact body, for the exact path: the envelope's fields
    as they are, ``series`` flattened into ``readings``. Raises :class:`EnvelopeRejected` 400
    when the body does not decode, 422 when ``series`` is not a list of well-formed series."""
    try:
        data = _decode_any(raw, media)
    except (msgspec.MsgspecError, RecursionError, ValueError) as exc:
        kind = "MessagePack" if media == MSGPACK else "JSON"
        raise EnvelopeRejected(400, f"the body is not valid {kind}: {exc}") from None
    if not isinstance(data, dict):
        raise EnvelopeRejected(422, "invalid batch: Input should be an object")
    series = data.pop("series", None)
    if not isinstance(series, list):
        missing = "Field required" if series is None else "Input should be a valid list"
        raise EnvelopeRejected(422, f"invalid batch: series: {missing}")
    data.pop("readings", None)
    readings = [entry for i, s in enumerate(series) for entry in _flatten(i, s)]
    out = {k: v for k, v in data.items() if isinstance(k, str)}
    out["readings"] = readings
    return json.dumps(out, ensure_ascii=False, default=_bytes_as_null).encode(
        "utf-8", "surrogatepass")


# -- the sender's side ----------------------------------------------------------------------

_ROWS = msgspec.json.Decoder(list[dict[str, Any]])


class _Entry(msgspec.Struct, gc=False):
    """A buffered reading entry as the sender reads it back (no rules: the cloud judges)."""

    device: Any
    sensor: Any
    ts: Any
    value: Any
    seq: Any
    unit: Any = None
    quality: Any = 0
    site: Any = None


_ENTRIES = msgspec.json.Decoder(list[_Entry])
_MSGPACK = msgspec.msgpack.Encoder()
_JSONENC = msgspec.json.Encoder()


def group_entries(entries: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Reading entries as compact series, in order of first appearance (deterministic)."""
    groups: dict[tuple[Any, ...], dict[str, Any]] = {}
    for r in entries:
        key = (r["device"], r["sensor"], r.get("site"), r.get("unit"))
        s = groups.get(key)
        if s is None:
            s = groups[key] = {"device": r["device"], "sensor": r["sensor"]}
            if key[2] is not None:
                s["site"] = key[2]
            if key[3] is not None:
                s["unit"] = key[3]
            s.update(ts=[], value=[], seq=[], quality=[])
        s["ts"].append(r["ts"])
        s["value"].append(r["value"])
        s["seq"].append(r["seq"])
        s["quality"].append(r.get("quality", 0))
    out = list(groups.values())
    for s in out:
        if not any(s["quality"]):
            del s["quality"]
    return out


class _OutSeries(msgspec.Struct, gc=False, omit_defaults=True, kw_only=True):
    """One series as the sender encodes it: the fields (and so the bytes) of
    :func:`group_entries`'s dicts, in their order, the absent ones omitted."""

    device: Any
    sensor: Any
    site: Any = None
    unit: Any = None
    ts: list[Any]
    value: list[Any]
    seq: list[Any]
    quality: list[Any] | None = None


_QUALITY = attrgetter("quality")


def _group_structs(entries: list[_Entry]) -> list[_OutSeries]:
    """:func:`group_entries` for entries read as structs: the same series, encoded to the
    same bytes, about twice as fast (one struct per series, not a dict filled key by key;
    no quality arrays at all when every entry's quality is 0, the usual case)."""
    groups: dict[tuple[Any, ...], _OutSeries] = {}
    if not any(map(_QUALITY, entries)):
        for r in entries:
            key = (r.device, r.sensor, r.site, r.unit)
            g = groups.get(key)
            if g is None:
                groups[key] = _OutSeries(device=r.device, sensor=r.sensor, site=r.site,
                                         unit=r.unit, ts=[r.ts], value=[r.value], seq=[r.seq])
            else:
                g.ts.append(r.ts)
                g.value.append(r.value)
                g.seq.append(r.seq)
        return list(groups.values())
    for r in entries:
        key = (r.device, r.sensor, r.site, r.unit)
        g = groups.get(key)
        if g is None:
            groups[key] = _OutSeries(device=r.device, sensor=r.sensor, site=r.site, unit=r.unit,
                                     ts=[r.ts], value=[r.value], seq=[r.seq], quality=[r.quality])
        else:
            g.ts.append(r.ts)
            g.value.append(r.value)
            g.seq.append(r.seq)
            g.quality.append(r.quality)  # type: ignore[union-attr]
    out = list(groups.values())
    for s in out:
        if not any(s.quality or ()):
            s.quality = None
    return out


def compact_body(gateway_id: str, batch_id: str, sent_at: int, readings: Sequence[str],
                 anomalies: Sequence[str], media: str = MSGPACK) -> bytes:
    """The compact batch of already-serialised JSON entries (as the gateway buffers them);
    the same entries always give the same bytes."""
    text = f"[{','.join(readings)}]".encode()
    series: list[_OutSeries] | list[dict[str, Any]]
    try:
        series = _group_structs(_ENTRIES.decode(text))
    except msgspec.MsgspecError:  # an entry short of a field: the general (slower) way
        series = group_entries(_ROWS.decode(text))
    events = _ROWS.decode(f"[{','.join(anomalies)}]".encode())
    env = {"gateway_id": gateway_id, "batch_id": batch_id, "sent_at": sent_at,
           "series": series, "anomalies": events}
    return (_MSGPACK if media == MSGPACK else _JSONENC).encode(env)
