"""The codec role: one small interface every wire format implements.

A codec turns a :class:`~firmware_protocol.model.Message` into bytes and back. ``decode`` takes
a :class:`DecodeContext` with what the transport knows (tags from the MQTT topic, the time of
receipt), because some formats leave the device id or site to the topic. ``decode`` raises
only :class:`~firmware_protocol.errors.DecodeError` (or a subclass), whatever the input.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from firmware_protocol.model import Message


@dataclass(frozen=True, slots=True)
class DecodeContext:
    """What the transport knows about a payload: tags from its topic and when it arrived.

    ``device`` and ``site`` fill in what the payload leaves out; a payload that names a device
    different from its topic's is rejected (:class:`~firmware_protocol.errors.BadField`).
    """

    device: str | None = None
    site: str | None = None
    received_ms: int | None = None


@runtime_checkable
class Codec(Protocol):
    """Encode and decode one wire format."""

    #: Registry name, also the last level of the default topic (``binary``, ``json``, ...).
    name: str
    #: MIME type of the encoding.
    content_type: str

    def encode(self, msg: Message) -> bytes:
        """The wire bytes for ``msg``; raises :class:`~firmware_protocol.errors.EncodeError`."""
        ...

    def decode(self, data: bytes, context: DecodeContext | None = None) -> Message:
        """The message in ``data``; raises only :class:`~firmware_protocol.errors.DecodeError`."""
        ...
