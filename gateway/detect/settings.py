"""Typed settings of the anomaly detectors: the ``[detect]`` section of the gateway settings."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from common.settings import load
from gateway.detect.registry import DEFAULT_DETECTOR, detector_class, detector_names
from gateway.detect.stream import StreamPolicy

Limits = dict[str, tuple[float, float]]

#: The gateway's environment prefix: ``[detect]`` is a section of the gateway's settings.
ENV_PREFIX = "IOTGW_GATEWAY_"


class DetectSettings(BaseModel):
    """How the gateway scores each (device, sensor) stream.

    ``threshold`` None means the chosen detector's own ``default_threshold``; ``state_dir``
    None means ``<gateway data dir>/detect``; ``params`` are passed to the detector's
    constructor; ``relearn_after``, ``warmup``: see :class:`~gateway.detect.stream.StreamPolicy`.
    """

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=True, description="Score readings; false: no detectors.")
    detector: str = Field(default=DEFAULT_DETECTOR, description=(
        "Detector per stream (see docs/anomaly-detection.md)."))
    params: dict[str, float | int | str | None] = Field(
        default_factory=dict, description="Keyword arguments of the detector's constructor.")
    threshold: float | None = Field(default=None, ge=0.0, le=1.0, description=(
        "Score above which a reading is an anomaly; unset: the detector's default."))
    warmup: int = Field(default=100, ge=0,
                        description="Readings a stream learns from before it is scored.")
    relearn_after: int = Field(default=50, ge=1, description=(
        "Consecutive anomalies after which the stream relearns (a level shift)."))
    max_streams: int = Field(default=10_000, ge=1,
                             description="Streams kept in memory (least recent evicted).")
    idle_evict_s: float = Field(default=3600.0, gt=0,
                                description="A stream idle this long is saved and evicted.")
    state_dir: Path | None = Field(default=None, description=(
        "Where stream state is saved; unset: <gateway.data_dir>/detect."))
    #: Physical range per sensor name, e.g. ``{temperature = [-40, 85]}``: a reading outside it
    #: is an anomaly (detector ``"range"``, score 1) whatever the model says, and is not learned.
    limits: Limits = Field(default_factory=dict, description=(
        "Physical range per sensor, e.g. {temperature = [-40, 85]}: outside is an anomaly."))
    anomaly_topic: str = Field(
        default="gateway/{gateway_id}/anomalies/{device}/{sensor}",
        description="Local MQTT topic of anomaly events.")
    device_detector: bool = Field(default=False, description=(
        "Also score each device's readings jointly; events name the device and, as their "
        "sensor, the contributing sensors joined by +."))
    device_params: dict[str, float | int] = Field(
        default_factory=dict, description="Parameters of the per-device detector.")
    worker: bool = Field(default=False, description=(
        "Score in a second process, so the gateway uses two cores (faster with a free core; "
        "about 50 MB more memory for 5,000 streams)."))

    @field_validator("detector")
    @classmethod
    def _known_detector(cls, name: str) -> str:
        if name not in detector_names():
            known = ", ".join(detector_names())
            raise ValueError(f"unknown detector {name!r}; choose one of {known}")
        return name

    @field_validator("anomaly_topic")
    @classmethod
    def _topic_fields(cls, topic: str) -> str:
        try:
            topic.format(gateway_id="g", device="d", sensor="s")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(
                "anomaly_topic may use only {gateway_id}, {device} and {sensor}"
            ) from exc
        if "+" in topic or "#" in topic:
            raise ValueError("anomaly_topic must not contain MQTT wildcards + or #")
        return topic

    @field_validator("limits")
    @classmethod
    def _ordered_limits(cls, limits: Limits) -> Limits:
        for sensor, (low, high) in limits.items():
            if low > high:
                raise ValueError(f"limits for {sensor!r}: low {low} is above high {high}")
        return limits

    @model_validator(mode="after")
    def _params_fit(self) -> DetectSettings:
        try:
            detector_class(self.detector)(**self.params)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"params do not fit detector {self.detector!r}: {exc}") from exc
        return self

    def effective_threshold(self) -> float:
        """The threshold in force: the setting, else the detector's default."""
        if self.threshold is not None:
            return self.threshold
        return detector_class(self.detector).default_threshold

    def policy(self) -> StreamPolicy:
        """The stream policy these settings describe."""
        return StreamPolicy(
            threshold=self.effective_threshold(),
            warmup=self.warmup,
            relearn_after=self.relearn_after,
        )

    def state_path(self, data_dir: Path) -> Path:
        """Where stream state lives: ``state_dir``, else ``<data_dir>/detect``."""
        return self.state_dir if self.state_dir is not None else data_dir / "detect"

    def topic_for(self, gateway_id: str, device: str, sensor: str) -> str:
        """The MQTT topic an anomaly event of this stream is published on."""
        return self.anomaly_topic.format(gateway_id=gateway_id, device=device, sensor=sensor)


def load_detect_settings(
    path: Path | None, overrides: dict[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> DetectSettings:
    """The ``[detect]`` table of a gateway TOML file (absent table or no file: defaults), under
    the gateway's ``IOTGW_GATEWAY_DETECT__<KEY>`` variables and ``overrides``.

    Loaded by the one loader, :func:`common.settings.load`; raises
    :class:`~common.settings.ConfigError` (one line, e.g. ``FILE: detect.threshold: ...``).
    """
    return load(DetectSettings, path, env_prefix=ENV_PREFIX, env=env, section="detect",
                overrides={"detect": overrides or {}})
