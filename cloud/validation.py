"""The shared field types of every request the cloud takes (bodies, paths, query parameters).

One place for the rules, so a new request model cannot forget one:

- :data:`FiniteFloat`: NaN and ±infinity are refused (JSON from Python clients can carry them);
  request models also set ``allow_inf_nan=False`` model-wide (:data:`REQUEST_CONFIG`).
- :data:`EpochMs`: a UTC millisecond time within 1970..2200 (``2**70`` is not a time).
- :data:`NameText` / :data:`NamePattern`: a name (or a shell pattern over names) in NFC, without
  invisible or direction-changing characters (the ingest contract's rule,
  :mod:`ingest_protocol.text`), at most 64 characters.
- :data:`FreeText`: comments and descriptions: no lone surrogates, no control characters other
  than tab and newline.

>>> from pydantic import TypeAdapter
>>> TypeAdapter(FiniteFloat).validate_python(float("nan"))
Traceback (most recent call last):
...
pydantic_core._pydantic_core.ValidationError: 1 validation error for float
  Input should be a finite number [type=finite_number, input_value=nan, input_type=float]
...
>>> TypeAdapter(NameText).validate_python("pump\\u200b1")
Traceback (most recent call last):
...
pydantic_core._pydantic_core.ValidationError: 1 validation error for function-after[...]
  Value error, contains U+200B (an invisible or direction-changing character) [...]
...
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, ConfigDict, Field

from ingest_protocol.text import clean_name

#: 2200-01-01T00:00:00Z in UTC ms: the latest time any request may name.
MAX_EPOCH_MS = 7_258_118_400_000
#: Longest name (device, sensor, site) and name pattern, in characters.
MAX_NAME_CHARS = 64

#: The configuration every request model uses: unknown fields and non-finite floats refused.
REQUEST_CONFIG = ConfigDict(extra="forbid", allow_inf_nan=False)


def _free_text(text: str) -> str:
    try:
        text.encode()
    except UnicodeEncodeError:
        raise ValueError("must be valid UTF-8 text") from None
    if any((ord(c) < 32 and c not in "\t\n") or ord(c) == 127 for c in text):
        raise ValueError("must not hold control characters")
    return text


def _optional_name(text: str | None) -> str | None:
    return None if text is None else clean_name(text)


FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
EpochMs = Annotated[int, Field(ge=0, le=MAX_EPOCH_MS, description="UTC milliseconds")]
NameText = Annotated[str, Field(min_length=1, max_length=MAX_NAME_CHARS),
                     AfterValidator(clean_name)]
NamePattern = Annotated[str, Field(min_length=1, max_length=MAX_NAME_CHARS),
                        AfterValidator(clean_name)]
OptionalName = Annotated[str | None, AfterValidator(_optional_name)]
FreeText = Annotated[str, AfterValidator(_free_text)]
