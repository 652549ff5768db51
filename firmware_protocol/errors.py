"""Errors raised by the codecs. Decoding never raises anything but :class:`DecodeError`.

Hierarchy::

    ProtocolError
    ├── EncodeError          a message cannot be put on the wire (too large, bad value, ...)
    ├── TopicError           a bad topic template, or a tag value that cannot go into a topic
    ├── TimestampError       text that is not a timestamp (also a ValueError)
    └── DecodeError          bytes from a device cannot be turned into a Message
        ├── TruncatedFrame   the input ends before the structure it announced
        ├── ChecksumError    the CRC trailer does not match the frame
        ├── UnsupportedVersion  magic is right but the version is one we do not read
        ├── FrameTooLarge    the input exceeds the documented maximum size
        ├── MalformedPayload the bytes are not the announced encoding (bad JSON, bad CBOR, ...)
        ├── UnknownFormat    the topic names a payload format no codec reads
        └── BadField         a field is missing, has the wrong type or breaks a documented limit

Every message says what went wrong and where: a byte offset for binary input, a field path
for structured input.
"""

from __future__ import annotations


class ProtocolError(Exception):
    """Base of every error raised by ``firmware_protocol``."""


class TimestampError(ProtocolError, ValueError):
    """Text that is not an ISO 8601 time or a Unix epoch (:mod:`firmware_protocol.timestamps`)."""


class EncodeError(ProtocolError):
    """A message cannot be encoded (a value or size outside what the format carries)."""


class TopicError(ProtocolError, ValueError):
    """A topic template is malformed, or a tag value cannot be put into a topic."""


class DecodeError(ProtocolError, ValueError):
    """Input bytes cannot be decoded into a valid message.

    ``reason`` is a short stable code (used as the dead-letter reason and a metric label).
    """

    reason = "decode_error"


class TruncatedFrame(DecodeError):
    """The input ends before the structure it announced (message names the byte offset)."""

    reason = "truncated"


class ChecksumError(DecodeError):
    """The CRC trailer does not match the bytes before it."""

    reason = "bad_checksum"


class UnsupportedVersion(DecodeError):
    """The format is recognised but its version is not one this code reads."""

    reason = "unsupported_version"


class FrameTooLarge(DecodeError):
    """The input is larger than the format's documented maximum."""

    reason = "too_large"


class MalformedPayload(DecodeError):
    """The bytes are not the announced encoding at all (bad magic, bad JSON, bad CBOR)."""

    reason = "malformed"


class UnknownFormat(DecodeError):
    """A topic's ``{format}`` level names no known codec."""

    reason = "unknown_format"


class BadField(DecodeError):
    """A field breaks the data model's rules; ``field`` names it (e.g. ``readings[2].value``)."""

    reason = "bad_field"

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem
