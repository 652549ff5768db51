"""The JSON codec's common case in one pass: the same answers as the full path, less work.

The full path (:func:`gateway.decoding.decode`) builds a :class:`~firmware_protocol.model.Message`
of frozen dataclasses, validates it field by field, checks its names against the ingest
contract, then writes the readings out as the contract's JSON entries. For a payload that is
plainly valid, :func:`fast_json` does all of that in one pass over the parsed object, with each
name checked once and remembered (names repeat endlessly).

It decides **acceptances only**: anything it is not sure about (a field missing or of another
type, a value out of range, a name that is not valid, a repeated sensor) returns ``None`` and the
caller takes the full path, which gives the exact rejection reason. What it accepts, the full
path accepts too, with the same output (``tests/gateway/test_fastjson.py`` checks both on the
protocol's vectors and on mutations of them). The parser is the codec's own
(:func:`~firmware_protocol.codecs._common.load_json`), so what counts as JSON does not change.

>>> r = fast_json(b'{"seq": 3, "ts": 1700000000000, "readings": [{"sensor": "t", "value": 2.5}]}',
...               "pump-7", "s1", keep=True)
>>> r.device, r.readings, r.body
('pump-7', 1, '{"device":"pump-7","sensor":"t","ts":1700000000000,"value":2.5,"seq":3,"site":"s1"}')
>>> r.scoring
ToScore(site='s1', first_ts=1700000000000, values=(('t', 1700000000000, 2.5),))
>>> fast_json(b'{"seq": -1}', "pump-7", "s1", keep=False) is None  # the full path says why
True
"""

from __future__ import annotations

import math
from typing import Any

from firmware_protocol.codecs._common import load_json
from firmware_protocol.errors import BadField, DecodeError
from firmware_protocol.model import (
    INT_MAX,
    INT_MIN,
    MAX_NAME_LEN,
    MAX_OFFSET_MS,
    MAX_READINGS,
    MAX_SEQ,
    MAX_TS_MS,
    MAX_UNIT_LEN,
    MIN_TS_MS,
    _check_name,
)
from gateway.decoded import Decoded, ToScore
from ingest_protocol import name_value_problem
from ingest_protocol.encode import json_string

#: Names (and units) seen, with whether each is valid; cleared when it grows past this.
_CACHE_MAX = 65_536
_NAMES: dict[str, bool] = {}
_UNITS: dict[str, bool] = {}
_isfinite = math.isfinite


def _valid(name: str, cache: dict[str, bool], limit: int) -> bool:
    """Whether both the device protocol and the ingest contract accept ``name`` (memoised)."""
    ok = cache.get(name)
    if ok is None:
        try:
            _check_name(name, "name", limit)
            ok = name_value_problem(name, limit) is None
        except BadField:
            ok = False
        if len(cache) >= _CACHE_MAX:
            cache.clear()
        cache[name] = ok
    return ok


def fast_json(payload: bytes, device_tag: str | None, site_tag: str | None,
              keep: bool) -> Decoded | None:
    """``payload`` decoded as the JSON codec would in a topic naming ``device_tag`` and
    ``site_tag``, or ``None`` when the full path must decide (it may still accept)."""
    try:
        obj = load_json(payload, "json")
    except DecodeError:
        return None
    if type(obj) is not dict:
        return None
    head = _identity(obj, device_tag, site_tag)
    if head is None:
        return None
    device, site, seq, ts = head
    items = obj.get("readings")
    if type(items) is not list or not 1 <= len(items) <= MAX_READINGS:
        return None
    prefix = f'{{"device":{json_string(device)},"sensor":'
    seq_text = f',"seq":{seq}'
    site_text = "}" if site is None else f',"site":{json_string(site)}}}'
    parts: list[str] = []
    values: list[tuple[str, int, float]] = []
    seen: set[tuple[str, int]] = set()
    names = _NAMES
    for item in items:
        if type(item) is not dict:
            return None
        sensor = item.get("sensor")
        if type(sensor) is not str or (names.get(sensor) is not True
                                       and not _valid(sensor, names, MAX_NAME_LEN)):
            return None
        value: Any = item.get("value")
        kind = type(value)
        if kind is float:
            if not _isfinite(value):
                return None
            text = repr(value)
        elif kind is int:
            if not INT_MIN <= value <= INT_MAX:
                return None
            text = repr(value)
        elif kind is bool:
            text = "true" if value else "false"
        else:
            return None
        offset, extra = (0, "") if len(item) == 2 else _optional(item)
        if offset is None:
            return None
        rts = ts + offset
        if not MIN_TS_MS <= rts <= MAX_TS_MS or (sensor, rts) in seen:
            return None
        seen.add((sensor, rts))
        parts.append(f'{prefix}{json_string(sensor)},"ts":{rts},"value":{text}{seq_text}'
                     f'{extra}{site_text}')
        if keep and kind is not bool:
            values.append((sensor, rts, float(value)))
    scoring = ToScore(site, ts + _offset_of(items[0]), tuple(values)) if keep else None
    return Decoded(device, seq, ts, len(items), ",".join(parts), scoring)


def _identity(obj: dict[str, Any], device_tag: str | None,
              site_tag: str | None) -> tuple[str, str | None, int, int] | None:
    """Device, site, seq and ts as the codec's ``finish`` settles them, or None."""
    device = obj.get("device", "")
    if type(device) is not str:
        return None
    if device_tag is not None and device != device_tag:
        if device:
            return None  # the payload and the topic disagree
        device = device_tag
    site = obj.get("site")
    if site is not None and type(site) is not str:
        return None
    if "site" in obj and site is None:
        return None  # an explicit null
    if site_tag is not None:
        if site is None:
            site = site_tag
        elif site != site_tag:
            return None
    if not device or not _valid(device, _NAMES, MAX_NAME_LEN):
        return None
    if site is not None and not _valid(site, _NAMES, MAX_NAME_LEN):
        return None
    seq, ts = obj.get("seq"), obj.get("ts")
    if type(seq) is not int or not 0 <= seq <= MAX_SEQ or type(ts) is not int:
        return None
    return device, site, seq, ts


def _optional(item: dict[str, Any]) -> tuple[int | None, str]:
    """A reading's offset and the JSON it adds (unit, quality); offset None when invalid."""
    extra = ""
    if "unit" in item:
        unit = item["unit"]
        if type(unit) is not str or not _valid(unit, _UNITS, MAX_UNIT_LEN):
            return None, ""
        extra = f',"unit":{json_string(unit)}'
    quality = item.get("quality", 0)
    if type(quality) is not int or not 0 <= quality <= 0xFF:
        return None, ""
    if quality:
        extra += f',"quality":{quality}'
    offset = item.get("offset_ms", 0)
    if type(offset) is not int or not -MAX_OFFSET_MS <= offset <= MAX_OFFSET_MS:
        return None, ""
    return offset, extra


def _offset_of(item: dict[str, Any]) -> int:
    offset: int = item.get("offset_ms", 0)
    return offset
