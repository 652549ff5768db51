"""The JSON codec: the object shape hobby firmware sends (see SPEC.md, "JSON").

One UTF-8 JSON object per message::

    {"device": "pump-7", "seq": 42, "ts": 1700000000000,
     "readings": [{"sensor": "temperature", "value": 21.5, "unit": "Cel"}]}

Optional keys: ``site`` (message), ``unit``, ``offset_ms`` and ``quality`` (reading); the
encoder omits them when they hold their defaults. ``device`` may be left out when the topic
names it. Unknown keys are ignored, so newer firmware may add fields.
"""

from __future__ import annotations

import json as _json
from typing import Any

from firmware_protocol.codec import DecodeContext
from firmware_protocol.codecs._common import finish, load_json, take
from firmware_protocol.errors import BadField, EncodeError
from firmware_protocol.model import Message, Quality, Reading, validate_message


class JsonCodec:
    """Encode and decode the documented JSON object shape.

    >>> from firmware_protocol.model import Message, Reading
    >>> codec = JsonCodec()
    >>> msg = Message("pump-7", 42, 1_700_000_000_000, (Reading("temperature", 21.5, "Cel"),))
    >>> codec.encode(msg)
    b'{"device":"pump-7","seq":42,"ts":1700000000000,"readings":[{"sensor":"temperature","value":21.5,"unit":"Cel"}]}'
    >>> codec.decode(codec.encode(msg)) == msg
    True
    >>> codec.decode(b'{"seq": 1}')
    Traceback (most recent call last):
    ...
    firmware_protocol.errors.BadField: ts: is missing
    """

    name = "json"
    content_type = "application/json"

    def encode(self, msg: Message) -> bytes:
        """Compact UTF-8 JSON; raises :class:`EncodeError` for an invalid message."""
        try:
            validate_message(msg)
        except BadField as exc:
            raise EncodeError(f"json: {exc}") from exc
        return _json.dumps(to_object(msg), separators=(",", ":"), ensure_ascii=False).encode()

    def decode(self, data: bytes, context: DecodeContext | None = None) -> Message:
        """The message in ``data``; raises only :class:`~firmware_protocol.errors.DecodeError`."""
        obj = load_json(data, "json")
        return finish(from_object(obj), context)


def to_object(msg: Message) -> dict[str, Any]:
    """The JSON object for ``msg`` (keys with default values left out)."""
    obj: dict[str, Any] = {"device": msg.device}
    if msg.site is not None:
        obj["site"] = msg.site
    obj["seq"] = msg.seq
    obj["ts"] = msg.ts_ms
    readings = []
    for r in msg.readings:
        item: dict[str, Any] = {"sensor": r.sensor, "value": r.value}
        if r.unit is not None:
            item["unit"] = r.unit
        if r.offset_ms:
            item["offset_ms"] = r.offset_ms
        if r.quality:
            item["quality"] = int(r.quality)
        readings.append(item)
    obj["readings"] = readings
    return obj


def from_object(obj: object) -> Message:
    """The message in a parsed JSON object (not yet validated against the model's limits)."""
    if not isinstance(obj, dict):
        raise BadField("$", f"is a JSON {type(obj).__name__}; expected an object")
    device = take(obj, "device", "device", str, required=False) or ""
    site = take(obj, "site", "site", str, required=False)
    seq = take(obj, "seq", "seq", int)
    ts = take(obj, "ts", "ts", int)
    items = take(obj, "readings", "readings", list)
    assert seq is not None and ts is not None and items is not None
    readings = tuple(_reading(item, f"readings[{i}]") for i, item in enumerate(items))
    return Message(device=device, seq=seq, ts_ms=ts, readings=readings, site=site)


def _reading(item: object, where: str) -> Reading:
    if not isinstance(item, dict):
        raise BadField(where, f"is a JSON {type(item).__name__}; expected an object")
    sensor = take(item, "sensor", f"{where}.sensor", str)
    value = take(item, "value", f"{where}.value", (bool, int, float))
    unit = take(item, "unit", f"{where}.unit", str, required=False)
    offset = take(item, "offset_ms", f"{where}.offset_ms", int, required=False) or 0
    quality = take(item, "quality", f"{where}.quality", int, required=False) or 0
    assert sensor is not None and value is not None
    if not 0 <= quality <= 0xFF:
        raise BadField(f"{where}.quality", f"is {quality}; must be flags in 0..255")
    return Reading(sensor, value, unit=unit, offset_ms=offset, quality=Quality(quality))
