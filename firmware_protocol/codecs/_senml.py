"""The SenML (RFC 8428) mapping shared by the JSON and CBOR SenML codecs.

A message is one SenML pack. The encoder writes the base name ``<device>:`` and the base time
(seconds) in the first record, one record per reading with ``n``, ``v`` or ``vb``, ``u`` and
``t`` (the reading's offset, in seconds), plus extension labels ``seq`` and ``site`` on the first
record and ``q`` (quality flags) where non-zero. The decoder resolves ``bn``/``bt``/``bu``/``bv``
as RFC 8428 section 4.6 says; SPEC.md ("SenML") lists every rule.
"""

from __future__ import annotations

import math
from typing import Any

from firmware_protocol.codec import DecodeContext
from firmware_protocol.errors import BadField, UnsupportedVersion
from firmware_protocol.model import Message, Quality, Reading, Value

#: Resolved times below 2**28 seconds are relative to the time of receipt (RFC 8428 4.5.3).
RELATIVE_LIMIT_MS = 2**28 * 1000
#: Highest SenML version (``bver``) understood.
SENML_VERSION = 10
_VALUE_LABELS = frozenset({"v", "vb", "vs", "vd", "s"})


def _seconds(ms: int) -> int | float:
    return ms // 1000 if ms % 1000 == 0 else ms / 1000


def to_records(msg: Message) -> list[dict[str, Any]]:
    """The SenML records (string labels) for ``msg``."""
    records: list[dict[str, Any]] = []
    for r in msg.readings:
        rec: dict[str, Any] = {}
        if not records:
            rec["bn"] = msg.device + ":"
            rec["bt"] = _seconds(msg.ts_ms)
            rec["seq"] = msg.seq
            if msg.site is not None:
                rec["site"] = msg.site
        rec["n"] = r.sensor
        if isinstance(r.value, bool):
            rec["vb"] = r.value
        else:
            rec["v"] = r.value
        if r.unit is not None:
            rec["u"] = r.unit
        if r.offset_ms:
            rec["t"] = _seconds(r.offset_ms)
        if r.quality:
            rec["q"] = int(r.quality)
        records.append(rec)
    return records


class _Pack:
    """Base-field state while walking a pack's records in order."""

    def __init__(self) -> None:
        self.bn = ""
        self.bt_ms = 0
        self.bu: str | None = None
        self.bv: int | float = 0
        self.device: str | None = None
        self.seq: int | None = None
        self.site: str | None = None


def from_records(records: object, context: DecodeContext | None) -> Message:
    """The message in a decoded pack (a list of records with string labels)."""
    if not isinstance(records, list) or not records:
        raise BadField("$", "a SenML pack is a non-empty array of records")
    received = context.received_ms if context is not None else None
    pack = _Pack()
    times: list[int] = []
    readings: list[Reading] = []
    ts0: int | None = None
    for i, rec in enumerate(records):
        where = f"records[{i}]"
        if not isinstance(rec, dict):
            raise BadField(where, f"is a {type(rec).__name__}; a SenML record is an object")
        _base_fields(pack, rec, where)
        if not readings and "bt" in rec:
            ts0 = _absolute(pack.bt_ms, received, f"{where}.bt")
        if not _VALUE_LABELS.intersection(rec) and "n" not in rec:
            continue  # a record of base fields only
        readings.append(_reading(pack, rec, where))
        t_ms = _ms(_get(rec, "t", where, (int, float)) or 0, f"{where}.t")
        abs_ms = _absolute(pack.bt_ms + t_ms, received, f"{where}.t")
        if ts0 is None:
            ts0 = abs_ms
        times.append(abs_ms)
    if ts0 is None or not readings:
        raise BadField("$", "the pack holds no record with a value")
    readings = [
        Reading(r.sensor, r.value, r.unit, offset_ms=t - ts0, quality=r.quality)
        for r, t in zip(readings, times, strict=True)
    ]
    return Message(
        device=pack.device or "",
        seq=pack.seq or 0,
        ts_ms=ts0,
        readings=tuple(readings),
        site=pack.site,
    )


def _base_fields(pack: _Pack, rec: dict[str, Any], where: str) -> None:
    for label in rec:
        if label.endswith("_"):
            raise BadField(f"{where}.{label}", "is a must-understand field this decoder lacks")
    bver = _get(rec, "bver", where, int)
    if bver is not None and bver > SENML_VERSION:
        raise UnsupportedVersion(f"senml: {where}.bver is {bver}; this reads {SENML_VERSION}")
    bn = _get(rec, "bn", where, str)
    if bn is not None:
        pack.bn = bn
    bt = _get(rec, "bt", where, (int, float))
    if bt is not None:
        pack.bt_ms = _ms(bt, f"{where}.bt")
    if "bu" in rec:
        pack.bu = _get(rec, "bu", where, str)
    bv = _get(rec, "bv", where, (int, float))
    if bv is not None:
        pack.bv = bv
    seq = _get(rec, "seq", where, int)
    if seq is not None and pack.seq is None:
        pack.seq = seq
    site = _get(rec, "site", where, str)
    if site is not None and pack.site is None:
        pack.site = site


def _reading(pack: _Pack, rec: dict[str, Any], where: str) -> Reading:
    device = pack.bn[:-1] if pack.bn.endswith((":", "/")) else pack.bn
    if pack.device is None:
        pack.device = device
    elif device != pack.device:
        raise BadField(f"{where}.bn", f"names device {device!r} after {pack.device!r}")
    sensor = _get(rec, "n", where, str)
    if not sensor:
        raise BadField(f"{where}.n", "is missing; every record names its sensor")
    for label in ("vs", "vd"):
        if label in rec:
            raise BadField(f"{where}.{label}", "string and data values are not supported")
    value: Value
    if "vb" in rec:
        value = bool(_get(rec, "vb", where, bool))
        if "v" in rec:
            raise BadField(f"{where}.v", "a record carries one value, not both v and vb")
    elif "v" in rec:
        v = _get(rec, "v", where, (int, float))
        assert v is not None
        value = pack.bv + v if pack.bv else v
    else:
        raise BadField(where, "has no value (v or vb)")
    unit = _get(rec, "u", where, str) if "u" in rec else pack.bu
    quality = _get(rec, "q", where, int) or 0
    if not 0 <= quality <= 0xFF:
        raise BadField(f"{where}.q", f"is {quality}; quality flags are 0..255")
    return Reading(sensor, value, unit=unit, quality=Quality(quality))


def _get(rec: dict[str, Any], label: str, where: str, kind: type | tuple[type, ...]) -> Any:
    if label not in rec:
        return None
    value = rec[label]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) != (bool in kinds) or not isinstance(value, kinds):
        names = " or ".join(k.__name__ for k in kinds)
        raise BadField(f"{where}.{label}", f"has type {type(value).__name__}; expected {names}")
    return value


def _ms(seconds: int | float, field: str) -> int:
    if isinstance(seconds, int):
        if abs(seconds) > 2**53:
            raise BadField(field, f"{seconds} s is out of range")
        return seconds * 1000
    if not math.isfinite(seconds) or abs(seconds) > 2**53:
        raise BadField(field, f"{seconds!r} s is not a usable time")
    return round(seconds * 1000)


def _absolute(ms: int, received: int | None, field: str) -> int:
    if ms >= RELATIVE_LIMIT_MS:
        return ms
    if received is None:
        raise BadField(field, "is a relative time (< 2**28 s) and the receive time is unknown")
    return received + ms
