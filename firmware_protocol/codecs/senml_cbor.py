"""SenML in CBOR (RFC 8428 section 6, ``application/senml+cbor``), integer labels on the wire."""

from __future__ import annotations

from typing import Any

from firmware_protocol.codec import DecodeContext
from firmware_protocol.codecs._common import MAX_DOCUMENT_BYTES, check_size, finish
from firmware_protocol.codecs._senml import from_records, to_records
from firmware_protocol.errors import BadField, EncodeError, MalformedPayload
from firmware_protocol.model import Message, validate_message

#: RFC 8428 table 4: SenML labels and their CBOR integer labels.
CBOR_LABELS: dict[str, int] = {
    "bver": -1, "bn": -2, "bt": -3, "bu": -4, "bv": -5, "bs": -6,
    "n": 0, "u": 1, "v": 2, "vs": 3, "vb": 4, "s": 5, "t": 6, "ut": 7, "vd": 8,
}  # fmt: skip
_NAMES = {code: name for name, code in CBOR_LABELS.items()}


class SenmlCborCodec:
    """Encode and decode a message as one SenML pack in CBOR.

    >>> from firmware_protocol.model import Message, Reading
    >>> codec = SenmlCborCodec()
    >>> msg = Message("pump-7", 42, 1_700_000_000_000, (Reading("running", True),))
    >>> codec.encode(msg).hex()
    '81a5216770756d702d373a221a6553f10063736571182a006772756e6e696e6704f5'
    >>> codec.decode(codec.encode(msg)) == msg
    True
    """

    name = "senml-cbor"
    content_type = "application/senml+cbor"

    def encode(self, msg: Message) -> bytes:
        """The pack in CBOR; raises :class:`EncodeError` for an invalid message."""
        try:
            validate_message(msg)
        except BadField as exc:
            raise EncodeError(f"senml-cbor: {exc}") from exc
        records = [{CBOR_LABELS.get(k, k): v for k, v in rec.items()} for rec in to_records(msg)]
        import cbor2  # here, not at the top: see decode

        return bytes(cbor2.dumps(records))

    def decode(self, data: bytes, context: DecodeContext | None = None) -> Message:
        """The message in ``data``; raises only :class:`~firmware_protocol.errors.DecodeError`."""
        raw = check_size(data, MAX_DOCUMENT_BYTES, "senml-cbor")
        # Loaded with the first CBOR payload: a gateway whose devices send none does not keep
        # cbor2 resident (~0.8 MB; decision 83). Once loaded, this is a dictionary lookup.
        import cbor2

        try:
            doc = cbor2.loads(raw)
        except Exception as exc:  # cbor2 raises many types on hostile input; all mean "not CBOR"
            raise MalformedPayload(f"senml-cbor: {type(exc).__name__}: {exc}") from None
        return finish(from_records(_string_labels(doc), context), context)


def _string_labels(doc: Any) -> Any:
    """The pack with integer labels replaced by their names (unknown integer labels dropped)."""
    if not isinstance(doc, list):
        return doc
    out: list[Any] = []
    for i, rec in enumerate(doc):
        if not isinstance(rec, dict):
            out.append(rec)
            continue
        named: dict[str, Any] = {}
        for key, value in rec.items():
            if isinstance(key, int) and not isinstance(key, bool):
                if key in _NAMES:
                    named[_NAMES[key]] = value
            elif isinstance(key, str):
                named[key] = value
            else:
                raise BadField(f"records[{i}]", f"has a label of type {type(key).__name__}")
        out.append(named)
    return out
