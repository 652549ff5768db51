"""What every rule shares: scope, severity, message template, and the evaluation contract.

A rule looks at one series (a device's sensor, or a whole device) and reports an
:class:`Observation` with a tri-state ``active``: ``True`` (the condition holds), ``False``
(it has cleared) or ``None`` (in between, e.g. inside a hysteresis band: keep the state). The
alert lifecycle (pending -> firing -> resolved, for-duration, dedup) lives in
``cloud.alerting.alerts`` and is the same for every rule kind.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Literal, Protocol

import numpy as np
from pydantic import AfterValidator, BaseModel, Field

from cloud.alerting.core.series import SeriesRef
from cloud.alerting.rules.template import check_template, render
from cloud.validation import REQUEST_CONFIG, FreeText, NamePattern
from ingest_protocol.text import clean_name

Severity = Literal["info", "warning", "critical"]


class Scope(BaseModel):
    """Which series a rule watches: shell-style patterns on site, device and sensor."""

    model_config = REQUEST_CONFIG

    site: NamePattern = Field(default="*", description="Site pattern (`*`, `plant-?`, ...).")
    device: NamePattern = Field(default="*", description="Device pattern.")
    sensor: NamePattern = Field(default="*", description="Sensor pattern.")

    def matches(self, site: str | None, device: str, sensor: str) -> bool:
        """Whether the series ``site/device/sensor`` is in scope (a missing site is ``""``)."""
        return (
            fnmatch.fnmatchcase(site or "", self.site)
            and fnmatch.fnmatchcase(device, self.device)
            and fnmatch.fnmatchcase(sensor, self.sensor)
        )


@dataclass(slots=True)
class Observation:
    """What a rule saw on a series at ``at_ms``; ``fields`` feed the message template."""

    series: SeriesRef
    at_ms: int
    active: bool | None
    value: float | None = None
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StreamInfo:
    """What the pipeline knows about a stream (from the ingest path's stream registry)."""

    device: str
    sensor: str
    site: str | None
    unit: str | None
    last_ts_ms: int  #: newest device timestamp
    #: When the cloud last stored a reading of the stream (its own clock); None if unknown.
    last_ingest_ms: int | None = None

    @property
    def heard_ms(self) -> int:
        """How fresh the stream's data is: its newest device timestamp, capped by when the
        cloud last stored a reading of it (arrival time). A device whose clock runs ahead
        cannot make itself look fresh; a backlog of old readings still looks old."""
        if self.last_ingest_ms is None:
            return self.last_ts_ms
        return min(self.last_ts_ms, self.last_ingest_ms)


class SeriesSource(Protocol):
    """Reads a window of one series from the time-series store."""

    def window(
        self, device: str, sensor: str, start_ms: int, end_ms: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Timestamps (UTC ms, ascending) and values in ``[start_ms, end_ms]``."""
        ...


class EvalContext(Protocol):
    """What scheduled rules may look at while evaluating."""

    def window(
        self, device: str, sensor: str, start_ms: int, end_ms: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """A window of one series (see :class:`SeriesSource`)."""
        ...

    def anomaly_events(self, device: str, sensor: str, start_ms: int, end_ms: int) -> int:
        """Edge anomaly events of one stream in ``[start_ms, end_ms)``."""
        ...


class RuleBase(BaseModel):
    """Fields every rule has; each kind adds its own in its module."""

    model_config = REQUEST_CONFIG

    #: ``"arrival"``: evaluated on each ingested batch; ``"schedule"``: by the evaluator's tick.
    mode: ClassVar[str] = "schedule"
    #: The message used when the rule has none.
    default_message: ClassVar[str] = "{rule} on {device}/{sensor}"

    name: Annotated[str, AfterValidator(clean_name)] = Field(..., min_length=1, max_length=200)
    scope: Scope = Field(default_factory=Scope)
    severity: Severity = "warning"
    message: Annotated[FreeText, AfterValidator(check_template)] | None = Field(
        default=None, max_length=500,
        description="Template, e.g. '{value:.1f}' (width at most 64, precision at most 20).")
    for_s: float = Field(
        default=0.0, ge=0, le=7 * 86400, description="Pending time before firing.")
    enabled: bool = True

    def text(self, fields: Mapping[str, Any]) -> str:
        """The alert message for ``fields``."""
        return render(self.message or self.default_message, {"rule": self.name, **fields})

    def series_for(self, stream: StreamInfo) -> SeriesRef:
        """The series this rule tracks for ``stream`` (device-level rules override)."""
        return SeriesRef(stream.device, stream.sensor, stream.site)

    def evaluate(
        self, ctx: EvalContext, streams: Sequence[StreamInfo], now_ms: int
    ) -> list[Observation]:
        """Scheduled evaluation over the streams in scope (arrival rules return nothing)."""
        return []
