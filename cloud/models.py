"""The wire models of the cloud API (ingest body and response, devices, series, anomalies).

Readings are validated one by one against the data model's rules (``firmware_protocol.model``
limits): a reading that breaks them is rejected with its index and reason and dead-lettered; it
never takes the rest of the batch down with it.
"""

from __future__ import annotations

from typing import Annotated, Any, NotRequired

from pydantic import BaseModel, Field, StrictBool
from pydantic import ValidationError as PydanticValidationError
from typing_extensions import TypedDict

from firmware_protocol.model import MAX_NAME_LEN, MAX_SEQ, MAX_TS_MS, MAX_UNIT_LEN, MIN_TS_MS

#: Printable characters; a backslash may not end a name nor precede a space, comma or equals
#: sign (InfluxDB 1.x line protocol cannot carry those; see docs/schema.md).
_NAME_PATTERN = r"^(?:[^\\\x00-\x1f\x7f]|\\+[^\\ ,=\x00-\x1f\x7f])+$"
Name = Annotated[str, Field(min_length=1, max_length=MAX_NAME_LEN, pattern=_NAME_PATTERN)]
Unit = Annotated[str, Field(min_length=1, max_length=MAX_UNIT_LEN, pattern=_NAME_PATTERN)]
Timestamp = Annotated[int, Field(ge=MIN_TS_MS, le=MAX_TS_MS, description="UTC milliseconds")]
Finite = Annotated[float, Field(allow_inf_nan=False)]


class ReadingIn(TypedDict):
    """One reading of an ingest batch. Booleans are stored as 1.0/0.0.

    A TypedDict rather than a model: validating a batch into plain dicts is several times
    faster, and ingest throughput is bounded by this step.
    """

    device: Name
    sensor: Name
    ts: Timestamp
    value: StrictBool | Finite
    seq: Annotated[int, Field(ge=0, le=MAX_SEQ)]
    unit: NotRequired[Unit | None]
    quality: NotRequired[Annotated[int, Field(ge=0, le=255)]]
    site: NotRequired[Name | None]


class AnomalyIn(TypedDict):
    """One anomaly a gateway detector flagged (``expected_low``..``expected_high`` expected)."""

    device: Name
    sensor: Name
    ts: Timestamp
    value: Finite
    score: Finite
    detector: Name
    expected_low: NotRequired[Finite | None]
    expected_high: NotRequired[Finite | None]
    site: NotRequired[Name | None]


class IngestEnvelope(BaseModel):
    """The batch envelope; entries are validated one by one afterwards."""

    gateway_id: Annotated[str, Field(min_length=1, max_length=128)]
    batch_id: Annotated[str, Field(min_length=1, max_length=256)]
    sent_at: int | float | str | None = None
    readings: list[Any]
    anomalies: list[Any] = Field(default_factory=list)


class ValidEnvelope(IngestEnvelope):
    """A batch whose every entry is valid, parsed and validated in one pass (the fast path of
    ingest; any problem sends the body down the entry-by-entry path instead)."""

    readings: list[ReadingIn]
    anomalies: list[AnomalyIn] = Field(default_factory=list)


class IngestBatch(BaseModel):
    """``POST /v1/ingest`` body (JSON, optionally ``Content-Encoding: gzip``)."""

    gateway_id: str = Field(description="Must match the token's gateway (403 otherwise).")
    batch_id: str = Field(description="Deterministic per batch on the gateway.")
    sent_at: int | None = Field(default=None, description="Gateway clock, UTC ms.")
    readings: list[ReadingIn]
    anomalies: list[AnomalyIn] = Field(default_factory=list)


class RejectedEntry(BaseModel):
    index: int
    reason: str


class IngestResponse(BaseModel):
    """What was stored: everything not in ``rejected`` (kept in the dead-letter table)."""

    accepted: int
    rejected: list[RejectedEntry]
    anomalies_accepted: int = 0
    anomalies_rejected: list[RejectedEntry] = Field(default_factory=list)


class SensorOut(BaseModel):
    sensor: str
    unit: str | None
    last_ts: int


class DeviceOut(BaseModel):
    device: str
    site: str | None
    gateway_id: str | None
    sensors: list[SensorOut]
    first_seen: int = Field(description="When the cloud first stored data for it, UTC ms.")
    last_seen: int = Field(description="Newest device timestamp stored, UTC ms.")
    last_ingest: int = Field(description="When the cloud last received data for it, UTC ms.")
    seconds_since: float = Field(description="Seconds from last_seen to now.")


class AnomalyOut(BaseModel):
    device: str
    sensor: str
    ts: int
    value: float
    score: float
    detector: str
    expected_low: float | None = None
    expected_high: float | None = None
    site: str | None = None


_BYTE_LIMITS = (("device", MAX_NAME_LEN), ("sensor", MAX_NAME_LEN), ("site", MAX_NAME_LEN),
                ("detector", MAX_NAME_LEN), ("unit", MAX_UNIT_LEN))


def utf8_problem(entry: Any) -> str | None:
    """Why a validated entry breaks the data model's byte limits on names, or None.

    Limits count UTF-8 bytes (``firmware_protocol.model``), which pydantic's ``max_length``
    (characters) cannot express; only non-ASCII names need this check.

    >>> utf8_problem({"device": "é" * 40}), utf8_problem({"device": "e" * 40})
    ('device: is 80 bytes of UTF-8, the limit is 64', None)
    """
    for key, limit in _BYTE_LIMITS:
        value = entry.get(key)
        if isinstance(value, str) and not value.isascii():
            size = len(value.encode("utf-8", "surrogatepass"))
            if size > limit:
                return f"{key}: is {size} bytes of UTF-8, the limit is {limit}"
    return None


def error_reason(exc: PydanticValidationError) -> str:
    """One line: the first problem, with the field it concerns."""
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"])
    return f"{loc}: {err['msg']}" if loc else str(err["msg"])
