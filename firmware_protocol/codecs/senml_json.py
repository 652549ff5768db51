"""SenML in JSON (RFC 8428, ``application/senml+json``); the mapping lives in ``_senml``."""

from __future__ import annotations

import json

from firmware_protocol.codec import DecodeContext
from firmware_protocol.codecs._common import finish, load_json
from firmware_protocol.codecs._senml import from_records, to_records
from firmware_protocol.errors import BadField, EncodeError
from firmware_protocol.model import Message, validate_message


class SenmlJsonCodec:
    """Encode and decode a message as one SenML pack in JSON.

    >>> from firmware_protocol.model import Message, Reading
    >>> codec = SenmlJsonCodec()
    >>> msg = Message("pump-7", 42, 1_700_000_000_500, (Reading("temperature", 21.5, "Cel"),))
    >>> codec.encode(msg)
    b'[{"bn":"pump-7:","bt":1700000000.5,"seq":42,"n":"temperature","v":21.5,"u":"Cel"}]'
    >>> codec.decode(codec.encode(msg)) == msg
    True
    >>> codec.decode(b'[{"bn":"urn:dev:ow:10e2073a:","bt":1.276020076e9,"bu":"A"},'
    ...              b'{"n":"current","v":1.2},{"n":"current","t":10,"v":1.3}]').readings[1]
    Reading(sensor='current', value=1.3, unit='A', offset_ms=10000, quality=<Quality.OK: 0>)
    """

    name = "senml-json"
    content_type = "application/senml+json"

    def encode(self, msg: Message) -> bytes:
        """The pack as compact UTF-8 JSON; raises :class:`EncodeError` for an invalid message."""
        try:
            validate_message(msg)
        except BadField as exc:
            raise EncodeError(f"senml-json: {exc}") from exc
        return json.dumps(to_records(msg), separators=(",", ":"), ensure_ascii=False).encode()

    def decode(self, data: bytes, context: DecodeContext | None = None) -> Message:
        """The message in ``data``; raises only :class:`~firmware_protocol.errors.DecodeError`."""
        return finish(from_records(load_json(data, "senml-json"), context), context)
