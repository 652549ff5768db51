"""The wire contract between device firmware and the gateway.

Pure code, no I/O, imports nothing else of this project. The data model lives in
:mod:`firmware_protocol.model`, errors in :mod:`firmware_protocol.errors`; the codecs and topic
scheme in the modules beside them; ``SPEC.md`` is the document firmware authors implement.
"""

from firmware_protocol.errors import (
    BadField,
    ChecksumError,
    DecodeError,
    EncodeError,
    FrameTooLarge,
    MalformedPayload,
    ProtocolError,
    TopicError,
    TruncatedFrame,
    UnknownFormat,
    UnsupportedVersion,
)
from firmware_protocol.model import Message, Quality, Reading, Value, validate_message

__all__ = [
    "BadField",
    "ChecksumError",
    "DecodeError",
    "EncodeError",
    "FrameTooLarge",
    "MalformedPayload",
    "Message",
    "ProtocolError",
    "Quality",
    "Reading",
    "TopicError",
    "TruncatedFrame",
    "UnknownFormat",
    "UnsupportedVersion",
    "Value",
    "validate_message",
]
