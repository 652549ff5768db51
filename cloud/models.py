"""The wire models of the cloud API (ingest body and response, devices, series, anomalies).

The ingest records and their rules are the gateway→cloud contract's (:mod:`ingest_protocol`),
re-exported here under the names the API has always used. Readings are validated one by one:
a reading that breaks the rules is rejected with its index and reason and dead-lettered; it
never takes the rest of the batch down with it.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from ingest_protocol import Anomaly as AnomalyIn
from ingest_protocol import AnomalyOut, IngestResponse, ValidEnvelope
from ingest_protocol import Batch as IngestBatch
from ingest_protocol import Envelope as IngestEnvelope
from ingest_protocol import Reading as ReadingIn
from ingest_protocol import Rejection as RejectedEntry

__all__ = [
    "AnomalyIn",
    "AnomalyOut",
    "DeviceOut",
    "IngestBatch",
    "IngestEnvelope",
    "IngestResponse",
    "ReadingIn",
    "RejectedEntry",
    "SensorOut",
    "ValidEnvelope",
]


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
