"""The verdicts of the contract: is a body a batch, and which of its entries are valid.

The order of checks is the contract's: JSON (400), envelope and version (422), batch limits
(413); then each reading and anomaly on its own, so a bad entry is rejected with its index and
reason (:func:`reading_problem`, :func:`anomaly_problem`) and never spoils the rest. Body size
(413) and the gateway/token match (403) belong to the HTTP layer in front of these.

>>> ok = {"device": "d", "sensor": "t", "ts": 1_700_000_000_000, "value": 1.5, "seq": 1}
>>> reading_problem(ok) is None
True
>>> reading_problem({**ok, "ts": 5})
'ts: Input should be greater than or equal to 946684800000'
>>> reading_problem({**ok, "device": "é" * 40})
'device: is 80 bytes of UTF-8, the limit is 64'
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError

from ingest_protocol.errors import EnvelopeRejected
from ingest_protocol.model import (
    BYTE_LIMITS,
    MAX_NAME_LEN,
    NAME_FIELDS,
    NAME_PATTERN,
    SUPPORTED_VERSIONS,
    VALUE_REASON,
    Anomaly,
    Envelope,
    Reading,
    Rejection,
    ValidEnvelope,
)
from ingest_protocol.text import name_problem

#: The deepest nesting of arrays and objects a body may have (an envelope's entries are at
#: depth 3; the rest is room for unknown fields). Deeper bodies are refused (400) before
#: they are parsed.
MAX_JSON_DEPTH = 32

_READINGS: TypeAdapter[list[Reading]] = TypeAdapter(list[Reading])
_READING: TypeAdapter[Reading] = TypeAdapter(Reading)
_ANOMALIES: TypeAdapter[list[Anomaly]] = TypeAdapter(list[Anomaly])
_ANOMALY: TypeAdapter[Anomaly] = TypeAdapter(Anomaly)


def error_reason(exc: ValidationError) -> str:
    """One line: the first problem, with the field it concerns.

    ``value`` is a union (boolean or number): its problem is said once, not per branch.
    """
    err = exc.errors()[0]
    if err["loc"][:1] == ("value",) and len(err["loc"]) > 1:
        return VALUE_REASON
    loc = ".".join(str(p) for p in err["loc"])
    msg = str(err["msg"]).removeprefix("Value error, ")
    return f"{loc}: {msg}" if loc else msg


def names_problem(entry: Any) -> str | None:
    """Why a validated entry's names are not acceptable, or None; normalises them to NFC in
    place (``entry`` is the validated copy). Then the UTF-8 byte limits (:func:`utf8_problem`).

    >>> e = {"device": "Cafe\u0301", "sensor": "t"}
    >>> names_problem(e), e["device"]
    (None, 'Café')
    >>> names_problem({"device": "a\u2066b"})
    'device: contains U+2066 (an invisible or direction-changing character)'
    """
    for key in NAME_FIELDS:
        value = entry.get(key)
        if isinstance(value, str) and not value.isascii():
            problem = name_problem(value)
            if problem is not None:
                return f"{key}: {problem}"
            entry[key] = unicodedata.normalize("NFC", value)
    return utf8_problem(entry)


_NAME = re.compile(NAME_PATTERN)


def name_value_problem(value: str, max_bytes: int = MAX_NAME_LEN) -> str | None:
    """Why ``value`` cannot be a name in a batch (pattern, invisible characters, UTF-8
    bytes), or None: what a sender checks before forwarding (the gateway dead-letters a
    message whose names the cloud would refuse, rather than forward it).

    >>> name_value_problem("x" * 65), name_value_problem("ok name")
    ('is 65 bytes, the limit is 64', None)
    """
    if not value:
        return "is empty"
    if not value.isascii():
        problem = name_problem(value)
        if problem is not None:
            return problem
        size = len(unicodedata.normalize("NFC", value).encode("utf-8", "surrogatepass"))
        if size > max_bytes:
            return f"is {size} bytes of UTF-8, the limit is {max_bytes}"
    elif len(value) > max_bytes:
        return f"is {len(value)} bytes, the limit is {max_bytes}"
    if _NAME.match(value) is None:
        return "is not a name the line protocol can carry (see NAME_PATTERN)"
    return None


def future_problem(ts_ms: int, now_ms: int, max_future_ms: int) -> str | None:
    """Why a timestamp is too far ahead of the receiver's clock, or None.

    >>> future_problem(1_000 + 3_600_001, 1_000, 3_600_000)
    'ts: is 3600001 ms ahead of the receiver clock; the limit is 3600000 ms'
    """
    ahead = ts_ms - now_ms
    if ahead > max_future_ms:
        return f"ts: is {ahead} ms ahead of the receiver clock; the limit is {max_future_ms} ms"
    return None


def check_future(checked: Checked, now_ms: int, max_future_ms: int) -> Checked:
    """``checked`` without the entries stamped beyond ``now_ms + max_future_ms`` (rejected
    with :func:`future_problem`'s reason)."""
    limit = now_ms + max_future_ms
    if all(e["ts"] <= limit for e in checked.entries):
        return checked
    index, keep, bad = [], [], list(checked.rejected)
    for i, entry in zip(checked.index, checked.entries, strict=True):
        problem = future_problem(entry["ts"], now_ms, max_future_ms)
        if problem is None:
            index.append(i)
            keep.append(entry)
        else:
            bad.append(Rejection(index=i, reason=problem))
    bad.sort(key=lambda r: r.index)
    return Checked(index, keep, bad)


def utf8_problem(entry: Any) -> str | None:
    """Why a validated entry breaks the data model's byte limits on names, or None.

    Limits count UTF-8 bytes (``firmware_protocol.model``); only non-ASCII names need this.

    >>> utf8_problem({"device": "é" * 40}), utf8_problem({"device": "e" * 40})
    ('device: is 80 bytes of UTF-8, the limit is 64', None)
    """
    for key, limit in BYTE_LIMITS:
        value = entry.get(key)
        if isinstance(value, str) and not value.isascii():
            size = len(value.encode("utf-8", "surrogatepass"))
            if size > limit:
                return f"{key}: is {size} bytes of UTF-8, the limit is {limit}"
    return None


def _problem(one: TypeAdapter[Any], entry: Any) -> str | None:
    try:
        valid = one.validate_python(entry)
    except ValidationError as exc:
        return error_reason(exc)
    return names_problem(valid)


def reading_problem(entry: Any) -> str | None:
    """The exact rejection reason of one ``readings`` entry, or None when it is valid."""
    return _problem(_READING, entry)


def anomaly_problem(entry: Any) -> str | None:
    """The exact rejection reason of one ``anomalies`` entry, or None when it is valid."""
    return _problem(_ANOMALY, entry)


@dataclass(frozen=True, slots=True)
class Checked:
    """The valid entries of one list (validated copies), their indexes, and the rejections."""

    index: list[int]
    entries: list[Any]
    rejected: list[Rejection]


def _check(many: TypeAdapter[Any], one: TypeAdapter[Any], entries: Sequence[Any],
           byte_limits: bool) -> Checked:
    try:
        good: list[Any] = many.validate_python(entries)
        index = list(range(len(entries)))
        bad: list[Rejection] = []
    except ValidationError:
        index, good, bad = [], [], []
        for i, entry in enumerate(entries):
            try:
                good.append(one.validate_python(entry))
                index.append(i)
            except ValidationError as exc:
                bad.append(Rejection(index=i, reason=error_reason(exc)))
    if byte_limits:
        keep_index, keep = [], []
        for i, entry in zip(index, good, strict=True):
            problem = names_problem(entry)
            if problem is None:
                keep_index.append(i)
                keep.append(entry)
            else:
                bad.append(Rejection(index=i, reason=problem))
        index, good = keep_index, keep
        bad.sort(key=lambda r: r.index)
    return Checked(index, good, bad)


def check_readings(entries: Sequence[Any], byte_limits: bool = True) -> Checked:
    """Validate ``readings`` entries; ``byte_limits=False`` skips the name checks (NFC,
    invisible characters, UTF-8 bytes): only safe when the body was ASCII without ``\\u``
    escapes."""
    return _check(_READINGS, _READING, entries, byte_limits)


def check_anomalies(entries: Sequence[Any], byte_limits: bool = True) -> Checked:
    """Validate ``anomalies`` entries, as :func:`check_readings`."""
    return _check(_ANOMALIES, _ANOMALY, entries, byte_limits)


def needs_byte_check(raw: bytes) -> bool:
    """Whether a name in ``raw`` could exceed its byte limit (non-ASCII or ``\\u`` escapes)."""
    return b"\\u" in raw or not raw.isascii()


def fast_parse(raw: bytes, max_entries: int | None = None) -> ValidEnvelope | None:
    """The batch in one pass, when it is ASCII without escapes (so no name can exceed its byte
    limit nor hold a lone surrogate), of a supported version, nested no deeper than an
    envelope's entries (so within :data:`MAX_JSON_DEPTH`), holding at most ``max_entries``
    objects (so a batch over its limits is counted before anything is validated), and
    everything in it is valid; None means: use :func:`parse_envelope` and check the entries
    one by one."""
    if needs_byte_check(raw):
        return None
    objects = raw.count(b"{")
    if max_entries is not None and objects > max_entries + 1:
        return None
    try:
        env = ValidEnvelope.model_validate_json(raw)
    except ValidationError:
        return None
    # Every "{" or "[" beyond the envelope, its two lists and their entries is nesting in
    # unknown fields (or text in strings): leave those bodies to the depth check.
    if objects + raw.count(b"[") > 3 + len(env.readings) + len(env.anomalies):
        return None
    return env if env.v in SUPPORTED_VERSIONS else None


_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_QUOTED = re.compile(rb'"[^"]*"')
_NOT_BRACKETS = bytes(range(256)).translate(None, b"[]{}")
_NOT_BRACKETS_OR_QUOTES = bytes(range(256)).translate(None, b'[]{}"')


def json_depth(raw: bytes) -> int:
    """How deeply ``raw`` (JSON text) nests arrays and objects, without parsing it.

    Cheap and bounded (no recursion), so it can run before a parser that recurses. Brackets
    inside strings do not count; for text that is not JSON the answer is only an estimate.

    >>> json_depth(b'{"a": "[[[", "b": [[{}], 1]}'), json_depth(b'[' * 5000)
    (4, 5000)
    """
    if b"\\" in raw:
        brackets = _STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    else:  # no escapes: a string is everything between two quotes
        brackets = _QUOTED.sub(b"", raw.translate(None, _NOT_BRACKETS_OR_QUOTES))
    depth = deepest = 0
    for c in brackets:
        if c in (91, 123):  # [ {
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def check_depth(raw: bytes) -> None:
    """400 when ``raw`` nests deeper than :data:`MAX_JSON_DEPTH`."""
    if json_depth(raw) > MAX_JSON_DEPTH:
        raise EnvelopeRejected(400, f"the body is not acceptable JSON: it nests deeper than "
                                    f"{MAX_JSON_DEPTH} levels")


def parse_envelope(raw: bytes) -> Envelope:
    """The envelope of a (decompressed) body; :class:`EnvelopeRejected` 400 or 422 if none."""
    check_depth(raw)
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise EnvelopeRejected(400, f"the body is not valid JSON: {exc}") from None
    try:
        env = Envelope.model_validate(data)
    except ValidationError as exc:
        raise EnvelopeRejected(422, f"invalid batch: {error_reason(exc)}") from None
    check_version(env)
    return env


def check_version(env: Envelope) -> None:
    """422 unless the batch's version ``v`` is one this side accepts."""
    if env.v not in SUPPORTED_VERSIONS:
        accepted = ", ".join(str(v) for v in SUPPORTED_VERSIONS)
        raise EnvelopeRejected(422, f"invalid batch: v: version {env.v} is not supported; "
                                    f"accepted versions: {accepted}")


def check_limits(env: Envelope, max_readings: int, max_anomalies: int) -> None:
    """413 when the batch holds more entries than the receiver's documented limits."""
    if len(env.readings) > max_readings:
        raise EnvelopeRejected(413, f"{len(env.readings)} readings; the limit per batch is "
                                    f"{max_readings}")
    if len(env.anomalies) > max_anomalies:
        raise EnvelopeRejected(413, f"{len(env.anomalies)} anomalies; the limit per batch is "
                                    f"{max_anomalies}")


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the contract says of a body: the envelope and each list's checked entries."""

    envelope: Envelope
    readings: Checked
    anomalies: Checked

    def response(self) -> dict[str, Any]:
        """The :class:`~ingest_protocol.model.IngestResponse` of storing every valid entry."""
        return {
            "accepted": len(self.readings.entries),
            "rejected": [r.model_dump() for r in self.readings.rejected],
            "anomalies_accepted": len(self.anomalies.entries),
            "anomalies_rejected": [r.model_dump() for r in self.anomalies.rejected],
        }


def judge(raw: bytes, max_readings: int, max_anomalies: int, now_ms: int | None = None,
          max_future_ms: int | None = None) -> Verdict:
    """The whole verdict on a decompressed body; raises :class:`EnvelopeRejected` (400, 422,
    413) when it is not an acceptable batch at all. With ``now_ms`` and ``max_future_ms``,
    entries stamped further ahead are rejected (:func:`check_future`)."""
    env: Envelope | None = fast_parse(raw, max_readings + max_anomalies)
    if env is None:
        env = parse_envelope(raw)
    check_limits(env, max_readings, max_anomalies)
    if isinstance(env, ValidEnvelope):
        readings = Checked(list(range(len(env.readings))), list(env.readings), [])
        anomalies = Checked(list(range(len(env.anomalies))), list(env.anomalies), [])
    else:
        byte_limits = needs_byte_check(raw)
        readings = check_readings(env.readings, byte_limits)
        anomalies = check_anomalies(env.anomalies, byte_limits)
    if now_ms is not None and max_future_ms is not None:
        readings = check_future(readings, now_ms, max_future_ms)
        anomalies = check_future(anomalies, now_ms, max_future_ms)
    return Verdict(env, readings, anomalies)
