"""The records of the gateway→cloud ingest contract, and the rules each field obeys.

A batch (``POST /v1/ingest`` body) is an envelope (:class:`Envelope`) holding ``readings``
(:class:`Reading`) and ``anomalies`` (:class:`Anomaly`); the answer is an
:class:`IngestResponse` listing each refused entry as a :class:`Rejection` (index and reason).
The limits are the device data model's (:mod:`firmware_protocol.model`), so whatever a device
may send, a gateway may forward.

The wire entries are ``TypedDict`` s rather than models: validating a batch into plain dicts is
several times faster, and ingest throughput is bounded by that step. Pydantic stays inside this
package: callers use :mod:`ingest_protocol.validate`'s functions and these types, so the parser
can be swapped without touching them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal, NotRequired

from pydantic import AfterValidator, BaseModel, Field, StrictBool, StrictInt
from typing_extensions import TypedDict

from firmware_protocol.model import MAX_NAME_LEN, MAX_SEQ, MAX_TS_MS, MAX_UNIT_LEN, MIN_TS_MS
from ingest_protocol.text import clean_name

#: The contract version this package describes; a body without ``v`` is version 1.
VERSION = 1
#: Every version this package's validators accept (a cloud keeps accepting old versions).
SUPPORTED_VERSIONS: tuple[int, ...] = (1,)
MAX_GATEWAY_ID_LEN = 128
MAX_BATCH_ID_LEN = 256
MAX_QUALITY = 255

#: Printable characters; a backslash may not end a name nor precede a space, comma or equals
#: sign (InfluxDB 1.x line protocol cannot carry those; see docs/schema.md).
NAME_PATTERN = r"^(?:[^\\\x00-\x1f\x7f]|\\+[^\\ ,=\x00-\x1f\x7f])+$"
# Entries are strict: a string "21.5" is not a number, 1.0 is not a timestamp, "true" is not a
# boolean. Names in entries are checked against invisible characters and normalised to NFC by
# the validators (ingest_protocol.validate) after parsing: an ASCII body without ``\u``
# escapes cannot hold one past NAME_PATTERN, which keeps the one-pass parse fast.
Name = Annotated[str, Field(min_length=1, max_length=MAX_NAME_LEN, pattern=NAME_PATTERN)]
Unit = Annotated[str, Field(min_length=1, max_length=MAX_UNIT_LEN, pattern=NAME_PATTERN)]
Timestamp = Annotated[StrictInt, Field(ge=MIN_TS_MS, le=MAX_TS_MS, description="UTC milliseconds")]
Finite = Annotated[float, Field(strict=True, allow_inf_nan=False)]
Seq = Annotated[StrictInt, Field(ge=0, le=MAX_SEQ)]
QualityByte = Annotated[StrictInt, Field(ge=0, le=MAX_QUALITY)]
#: A gateway id obeys the rules of device names (it is a tag in the store, a label in metrics).
GatewayId = Annotated[str, Field(min_length=1, max_length=MAX_GATEWAY_ID_LEN,
                                 pattern=NAME_PATTERN), AfterValidator(clean_name)]
#: Fields holding names, checked by :func:`ingest_protocol.validate.names_problem`.
NAME_FIELDS = ("device", "sensor", "site", "detector", "unit")
#: The reason given for a ``value`` that is neither (strict JSON numbers and booleans only).
VALUE_REASON = "value: must be a finite number or a boolean"

#: Fields whose limit is in UTF-8 bytes (``max_length`` above counts characters).
BYTE_LIMITS: tuple[tuple[str, int], ...] = (
    ("device", MAX_NAME_LEN), ("sensor", MAX_NAME_LEN), ("site", MAX_NAME_LEN),
    ("detector", MAX_NAME_LEN), ("unit", MAX_UNIT_LEN))


class Reading(TypedDict):
    """One reading of a batch. Booleans are stored as 1.0/0.0."""

    device: Name
    sensor: Name
    ts: Timestamp
    value: StrictBool | Finite
    seq: Seq
    unit: NotRequired[Unit | None]
    quality: NotRequired[QualityByte]
    site: NotRequired[Name | None]


class Anomaly(TypedDict):
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


class Envelope(BaseModel):
    """The batch envelope; entries are validated one by one afterwards."""

    v: StrictInt = VERSION
    gateway_id: GatewayId
    batch_id: Annotated[str, Field(min_length=1, max_length=MAX_BATCH_ID_LEN)]
    sent_at: int | float | str | None = None
    readings: list[Any]
    anomalies: list[Any] = Field(default_factory=list)


class ValidEnvelope(Envelope):
    """A batch whose every entry is valid, parsed and validated in one pass."""

    readings: list[Reading]
    anomalies: list[Anomaly] = Field(default_factory=list)


class Batch(BaseModel):
    """``POST /v1/ingest`` body (JSON, optionally ``Content-Encoding: gzip``), version 1."""

    v: Literal[1] = Field(default=1, description="Contract version; absent means 1.")
    gateway_id: GatewayId = Field(description="Must match the token's gateway (403 otherwise);"
                                              " the rules of device names apply.")
    batch_id: str = Field(min_length=1, max_length=MAX_BATCH_ID_LEN,
                          description="Deterministic per batch on the gateway.")
    sent_at: int | None = Field(default=None, description="Gateway clock, UTC ms.")
    readings: list[Reading]
    anomalies: list[Anomaly] = Field(default_factory=list)


class Rejection(BaseModel):
    """An entry the cloud refused: its index in the batch's list and why."""

    index: int
    reason: str


class IngestResponse(BaseModel):
    """What was stored: everything not in ``rejected`` (kept in the dead-letter table)."""

    accepted: int
    rejected: list[Rejection]
    anomalies_accepted: int = 0
    anomalies_rejected: list[Rejection] = Field(default_factory=list)


class AnomalyOut(BaseModel):
    """An anomaly as the cloud's API returns it (every key present)."""

    device: str
    sensor: str
    ts: int
    value: float
    score: float
    detector: str
    expected_low: float | None = None
    expected_high: float | None = None
    site: str | None = None


@dataclass(frozen=True, slots=True)
class AnomalyRecord:
    """An anomaly as code holds it (``ts_ms``); :meth:`to_dict` is its wire form.

    >>> a = AnomalyRecord("d", "t", 1_700_000_000_000, 9.0, 0.9, "hst", site="s")
    >>> AnomalyRecord.from_dict(a.to_dict()) == a
    True
    """

    device: str
    sensor: str
    ts_ms: int
    value: float
    score: float
    detector: str
    expected_low: float | None = None
    expected_high: float | None = None
    site: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The wire form (``ts`` in UTC ms), as batches and ``/v1/anomalies`` carry it."""
        return {
            "device": self.device, "sensor": self.sensor, "ts": self.ts_ms,
            "value": self.value, "score": self.score, "detector": self.detector,
            "expected_low": self.expected_low, "expected_high": self.expected_high,
            "site": self.site,
        }

    @classmethod
    def from_dict(cls, a: Anomaly | dict[str, Any]) -> AnomalyRecord:
        """The record of a validated wire entry."""
        return cls(a["device"], a["sensor"], a["ts"], a["value"], a["score"], a["detector"],
                   a.get("expected_low"), a.get("expected_high"), a.get("site"))
