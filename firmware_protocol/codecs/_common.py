"""Helpers shared by the codecs: size limits, topic context, and typed field access.

Everything here raises only :class:`~firmware_protocol.errors.DecodeError` subclasses, so a
codec built from these pieces keeps the "only DecodeError" promise (the fuzz tests check it).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, TypeVar

from firmware_protocol.codec import DecodeContext
from firmware_protocol.errors import BadField, DecodeError, FrameTooLarge, MalformedPayload
from firmware_protocol.model import Message, validate_message

T = TypeVar("T")

#: Largest JSON / SenML payload (bytes) a text or CBOR codec accepts.
MAX_DOCUMENT_BYTES = 65_536


def check_size(data: object, limit: int, what: str) -> bytes:
    """``data`` as bytes, or :class:`FrameTooLarge` / :class:`DecodeError` for wrong input."""
    if isinstance(data, bytearray | memoryview):
        data = bytes(data)
    if not isinstance(data, bytes):
        raise DecodeError(f"{what}: expected bytes, got {type(data).__name__}")
    if len(data) > limit:
        raise FrameTooLarge(f"{what}: {len(data)} bytes, the maximum is {limit}")
    return data


def finish(msg: Message, context: DecodeContext | None) -> Message:
    """Fill the device and site from the topic, reject a conflict, then validate."""
    if context is not None:
        if context.device is not None and msg.device != context.device:
            if msg.device:
                raise BadField(
                    "device", f"payload names {msg.device!r} but the topic names {context.device!r}"
                )
            msg = dataclasses.replace(msg, device=context.device)
        if context.site is not None:
            if msg.site is None:
                msg = dataclasses.replace(msg, site=context.site)
            elif msg.site != context.site:
                raise BadField(
                    "site", f"payload names {msg.site!r} but the topic names {context.site!r}"
                )
    if not msg.device:
        raise BadField("device", "is missing: neither the payload nor the topic names it")
    return validate_message(msg)


def take(obj: dict[object, object], key: object, path: str, kind: type[T] | tuple[type, ...],
         required: bool = True) -> T | None:
    """``obj[key]`` checked against ``kind`` (bools are never ints), else :class:`BadField`."""
    if key not in obj:
        if required:
            raise BadField(path, "is missing")
        return None
    value = obj[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds:
        raise BadField(path, "is a boolean; expected " + _names(kinds))
    if not isinstance(value, kinds):
        raise BadField(path, f"has type {type(value).__name__}; expected " + _names(kinds))
    return value  # type: ignore[return-value]


def _names(kinds: tuple[type, ...]) -> str:
    return " or ".join(k.__name__ for k in kinds)


def _reject_constant(name: str) -> Any:
    raise MalformedPayload(f"{name} is not a number this protocol accepts")


#: One decoder for every call (``json.loads`` with a hook would build a new one each time).
_JSON = json.JSONDecoder(parse_constant=_reject_constant)


def load_json(data: object, what: str) -> Any:
    """Parse a UTF-8 JSON document of at most :data:`MAX_DOCUMENT_BYTES` (NaN/Infinity rejected)."""
    raw = check_size(data, MAX_DOCUMENT_BYTES, what)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedPayload(f"{what}: invalid UTF-8 at byte {exc.start}") from exc
    try:
        return _JSON.decode(text)
    except MalformedPayload as exc:
        raise MalformedPayload(f"{what}: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise MalformedPayload(f"{what}: {exc.msg} at character {exc.pos}") from exc
    except (ValueError, RecursionError) as exc:
        raise MalformedPayload(f"{what}: {exc}") from exc
