"""The codec family: one module per wire format, all behind :class:`~firmware_protocol.codec.Codec`.

>>> [get_codec(name).name for name in CODEC_NAMES]
['binary', 'json', 'senml-json', 'senml-cbor']
>>> get_codec("xml")
Traceback (most recent call last):
...
ValueError: unknown codec 'xml'; valid names: binary, json, senml-json, senml-cbor
"""

from __future__ import annotations

from collections.abc import Callable

from firmware_protocol.codec import Codec
from firmware_protocol.codecs.binary import MAX_FRAME_BYTES, BinaryCodec
from firmware_protocol.codecs.json import JsonCodec
from firmware_protocol.codecs.senml_cbor import SenmlCborCodec
from firmware_protocol.codecs.senml_json import SenmlJsonCodec

__all__ = [
    "CODEC_NAMES",
    "MAX_FRAME_BYTES",
    "BinaryCodec",
    "JsonCodec",
    "SenmlCborCodec",
    "SenmlJsonCodec",
    "get_codec",
]

#: Every codec's registry name; also the ``{format}`` level of the default topic.
CODEC_NAMES: tuple[str, ...] = ("binary", "json", "senml-json", "senml-cbor")

_FACTORIES: dict[str, Callable[[], Codec]] = {
    "binary": BinaryCodec,
    "json": JsonCodec,
    "senml-json": SenmlJsonCodec,
    "senml-cbor": SenmlCborCodec,
}


def get_codec(name: str) -> Codec:
    """A codec by registry name; :class:`ValueError` listing the valid names otherwise."""
    factory = _FACTORIES.get(name)
    if factory is None:
        raise ValueError(f"unknown codec {name!r}; valid names: {', '.join(CODEC_NAMES)}")
    return factory()
