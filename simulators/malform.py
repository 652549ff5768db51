"""Malformed payloads: what the ``bad-crc``, ``truncated`` and ``wrong-type`` faults send.

Every mutation is chosen so that a correct decoder *must* reject the payload (never a payload
that still decodes to a different, wrong reading), because reconciliation expects each of them
as exactly one dead letter:

- ``bad-crc``: binary frames get a CRC trailer that does not match; text and CBOR formats, which
  carry no checksum, get their first byte corrupted to ``0xFF`` (never valid JSON or CBOR start).
- ``truncated``: the payload cut short at a random point (at least one byte kept). A prefix of a
  JSON object/array or of a definite-length CBOR item is incomplete; a binary frame's CRC and
  lengths no longer fit (the rare cut that still decodes is cut again, see :func:`malform`).
- ``wrong-type``: JSON and SenML get the first reading's value as a string (``"21.5"``, the
  classic firmware bug of quoting numbers); binary frames get a bool record whose value byte is
  2, with a correct CRC, so it is the type check that must reject it.
"""

from __future__ import annotations

import dataclasses
import json
import random
from typing import Any

from firmware_protocol.codec import Codec
from firmware_protocol.errors import DecodeError
from firmware_protocol.model import Message

_CRC_BYTES = 2
_BOOL_KIND = 5


def bad_crc(codec: Codec, payload: bytes) -> bytes:
    """``payload`` with its checksum broken (binary) or its first byte corrupted (others)."""
    if codec.name == "binary":
        return payload[:-1] + bytes([payload[-1] ^ 0xFF])
    return b"\xff" + payload[1:]


def truncated(payload: bytes, rng: random.Random) -> bytes:
    """A strict prefix of ``payload``, at least one byte long."""
    return payload[: rng.randint(1, max(1, len(payload) - 1))]


def wrong_type(codec: Codec, msg: Message) -> bytes:
    """``msg`` encoded with its first reading's value of a type the format does not allow."""
    if codec.name == "binary":
        return _binary_wrong_type(codec, msg)
    first = msg.readings[0]
    payload = codec.encode(msg)
    if codec.name == "senml-cbor":
        import cbor2

        doc = cbor2.loads(payload)
        _quote_first_value(doc, {2})
        return bytes(cbor2.dumps(doc))
    doc = json.loads(payload)
    _quote_first_value(doc, {"v", "value"})
    out = json.dumps(doc, separators=(",", ":")).encode()
    if out == payload:  # nothing to quote: should not happen for numeric readings
        raise ValueError(f"no numeric value to retype in {first.sensor!r}")
    return out


def _quote_first_value(doc: Any, keys: set[Any]) -> bool:
    """Turn the first numeric value under one of ``keys`` into its string form, in place."""
    if isinstance(doc, dict):
        for key, value in doc.items():
            if key in keys and isinstance(value, int | float) and not isinstance(value, bool):
                doc[key] = repr(value)
                return True
        return any(_quote_first_value(v, keys) for v in doc.values())
    if isinstance(doc, list):
        return any(_quote_first_value(v, keys) for v in doc)
    return False


def _binary_wrong_type(codec: Codec, msg: Message) -> bytes:
    from firmware_protocol.codecs.binary import crc16

    first = msg.readings[0]
    as_bool = dataclasses.replace(first, value=True, unit=None, offset_ms=0)
    frame = codec.encode(dataclasses.replace(msg, readings=(as_bool, *msg.readings[1:])))
    name = first.sensor.encode()
    record = bytes([_BOOL_KIND, 1 + len(name), 1]) + name
    at = frame.rfind(record, 0, len(frame) - _CRC_BYTES)
    if at < 0:
        raise ValueError("binary: bool record not found in the frame")
    body = bytearray(frame[:-_CRC_BYTES])
    body[at + 2] = 2
    return bytes(body) + crc16(bytes(body)).to_bytes(_CRC_BYTES, "little")


def _rejected(codec: Codec, data: bytes) -> bool:
    try:
        codec.decode(data)
    except DecodeError:
        return True
    return False


def malform(kind: str, codec: Codec, msg: Message, payload: bytes, rng: random.Random) -> bytes:
    """The payload a ``kind`` fault sends instead of ``payload`` (``msg`` encoded by ``codec``).

    The result is checked against ``codec``: a cut that happens to leave a valid frame (a
    binary prefix whose last two bytes match its CRC-16, about 1 in 65,536) is cut again.
    """
    for _attempt in range(16):
        if kind == "bad-crc":
            out = bad_crc(codec, payload)
        elif kind == "truncated":
            out = truncated(payload, rng)
        elif kind == "wrong-type":
            out = wrong_type(codec, msg)
        else:
            raise ValueError(f"not a malformed-payload fault: {kind!r}")
        if _rejected(codec, out):
            return out
    raise ValueError(f"{kind}: could not build a payload {codec.name} rejects")

