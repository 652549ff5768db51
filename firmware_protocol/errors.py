"""Errors raised by the codecs. Decoding never raises anything but :class:`DecodeError`.

Hierarchy::

    ProtocolError
    ├── EncodeError          a message cannot be put on the wire (too large, bad value, ...)
    └── DecodeError          bytes from a device cannot be turned into a Message
        ├── TruncatedFrame   the input ends before the structure it announced
        ├── ChecksumError    the CRC trailer does not match the frame
        ├── UnsupportedVersion  magic is right but the version is one we do not read
        ├── FrameTooLarge    the input exceeds the documented maximum size
        ├── MalformedPayload the bytes are not the announced encoding (bad JSON, bad CBOR, ...)
        └── BadField         a field is missing, has the wrong type or breaks a documented limit

Every message says what went wrong and where: a byte offset for binary input, a field path
for structured input.
"""

from __future__ import annotations


class ProtocolError(Exception):
    """Base of every error raised by ``firmware_protocol``."""


class EncodeError(ProtocolError):
    """A message cannot be encoded (a value or size outside what the format carries)."""


class DecodeError(ProtocolError, ValueError):
    """Input bytes cannot be decoded into a valid message.

    ``reason`` is a short stable code (used as the dead-letter reason and a metric label).
    """

    reason = "decode_error"


class TruncatedFrame(DecodeError):
    reason = "truncated"


class ChecksumError(DecodeError):
    reason = "bad_checksum"


class UnsupportedVersion(DecodeError):
    reason = "unsupported_version"


class FrameTooLarge(DecodeError):
    reason = "too_large"


class MalformedPayload(DecodeError):
    reason = "malformed"


class BadField(DecodeError):
    """A field breaks the data model's rules; ``field`` names it (e.g. ``readings[2].value``)."""

    reason = "bad_field"

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem
