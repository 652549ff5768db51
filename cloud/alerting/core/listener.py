"""What the alerting side needs from the ingest path.

``cloud.ingest.IngestService`` calls its listeners with a ``StoredBatch`` once per batch
**after the store accepted it**; :meth:`cloud.alerting.service.Alerting.on_stored` hands the
accepted readings and anomaly events to :meth:`IngestListener.on_ingested`. A listener must
never make an ingest fail: the data is already stored, so errors are logged and counted.

The readings and anomalies are structural (:class:`ReadingLike`, :class:`AnomalyLike`): the
store's ``Point`` and the contract's ``ingest_protocol.AnomalyRecord`` (the store's
``AnomalyPoint``) fit as they are, so nothing is copied per reading.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


class ReadingLike(Protocol):
    """An accepted reading as the alerting side reads it."""

    @property
    def device(self) -> str: ...
    @property
    def sensor(self) -> str: ...
    @property
    def ts_ms(self) -> int: ...
    @property
    def value(self) -> float | int | bool: ...
    @property
    def site(self) -> str | None: ...
    @property
    def unit(self) -> str | None: ...


class AnomalyLike(Protocol):
    """An accepted edge anomaly event as the alerting side reads it."""

    @property
    def device(self) -> str: ...
    @property
    def sensor(self) -> str: ...
    @property
    def ts_ms(self) -> int: ...
    @property
    def site(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class IngestedReading:
    """One accepted reading (``ts_ms``: device time, UTC ms)."""

    device: str
    sensor: str
    ts_ms: int
    value: float | int | bool
    site: str | None = None
    unit: str | None = None


class SeriesLike(Protocol):
    """The accepted readings of one series of a batch, as parallel lists
    (:class:`ingest_protocol.columns.Series`): values are floats (booleans 1.0/0.0)."""

    @property
    def device(self) -> str: ...
    @property
    def sensor(self) -> str: ...
    @property
    def site(self) -> str | None: ...
    @property
    def unit(self) -> str | None: ...
    @property
    def ts(self) -> Sequence[int]: ...
    @property
    def value(self) -> Sequence[float]: ...


class StoredBatchLike(Protocol):
    """One batch the store accepted, as the ingest service hands it to its listeners."""

    @property
    def points(self) -> Sequence[ReadingLike]: ...
    @property
    def anomalies(self) -> Sequence[AnomalyLike]: ...


class IngestListener(Protocol):
    """Told about every batch the store accepted."""

    def on_ingested(
        self, readings: Sequence[ReadingLike], anomalies: Sequence[AnomalyLike]
    ) -> None:
        """Called after the store accepted the batch (the listener stamps the receive time
        with its own clock); must not raise."""
        ...
