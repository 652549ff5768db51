"""Typed gateway settings: a TOML file plus environment variables, validated at start-up.

Each concern is a nested section (``[gateway]``, ``[mqtt]``, ``[intake]``, ``[buffer]``,
``[uplink]``, ``[health]``, ``[log]``, and the detectors' ``[detect]``); other features add
their own section the same way. Environment variables override the file:
``IOTGW_GATEWAY_<SECTION>__<KEY>``, e.g.
``IOTGW_GATEWAY_UPLINK__TOKEN``. Loaded by the one loader, :func:`common.settings.load`: a bad
setting raises :class:`~common.settings.ConfigError` with one line naming the file (or the
variable) and the key.

>>> s = GatewaySettings.load(None, env={})
>>> s.buffer.overflow, s.buffer.durability, s.health.host
('drop_oldest', 'power-loss', '127.0.0.1')
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from common.settings import load as load_settings
from firmware_protocol.errors import TopicError
from firmware_protocol.topics import Subscription
from gateway.detect.settings import DetectSettings

ENV_PREFIX = "IOTGW_GATEWAY_"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GatewaySection(_Section):
    """Who this gateway is and where it keeps its data."""

    id: str = Field(default_factory=lambda: socket.gethostname() or "gateway", min_length=1)
    data_dir: Path = Path("gateway-data")


class TlsSection(_Section):
    """TLS to the broker; on when ``mqtt.url`` uses ``mqtts://`` or ``enabled`` is true."""

    enabled: bool = False
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    insecure: bool = False


class SubscriptionSection(_Section):
    """One subscription: a topic template (``{site}``, ``{device}``, ``{format}`` tags) and the
    codec; without ``codec`` the topic's ``{format}`` level picks it."""

    topic: str = "sensors/{site}/{device}/{format}"
    codec: str | None = None

    @model_validator(mode="after")
    def _check(self) -> SubscriptionSection:
        try:
            Subscription(self.topic, self.codec)
        except TopicError as exc:
            raise ValueError(str(exc)) from None
        return self

    def build(self) -> Subscription:
        return Subscription(self.topic, self.codec)


class MqttSection(_Section):
    """The broker connection and the group commit that decides when messages are acknowledged."""

    url: str = "mqtt://127.0.0.1:1883"
    client_id: str | None = None
    username: str | None = None
    password: SecretStr | None = None
    protocol: Literal["3.1.1", "5"] = "3.1.1"
    keepalive_s: int = Field(default=30, ge=5, le=3600)
    session_expiry_s: int = Field(default=7 * 24 * 3600, ge=0)
    receive_maximum: int = Field(default=4000, ge=1, le=65535)
    reconnect_min_s: float = Field(default=0.5, gt=0)
    reconnect_max_s: float = Field(default=30.0, gt=0, le=3600)
    commit_max_messages: int = Field(default=1000, ge=1, le=100_000)
    commit_max_delay_ms: float = Field(default=0.0, ge=0, le=10_000)
    decode_worker: bool = False
    subscriptions: list[SubscriptionSection] = Field(
        default_factory=lambda: [SubscriptionSection()], min_length=1
    )
    tls: TlsSection = TlsSection()

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in {"mqtt", "mqtts", "tcp", "ssl"} or not parts.hostname:
            raise ValueError("must look like mqtt://host:1883 or mqtts://host:8883")
        return value

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or "127.0.0.1"

    @property
    def use_tls(self) -> bool:
        return self.tls.enabled or urlsplit(self.url).scheme in {"mqtts", "ssl"}

    @property
    def port(self) -> int:
        return urlsplit(self.url).port or (8883 if self.use_tls else 1883)


class IntakeSection(_Section):
    """The raw intake log between acknowledging and processing (``intake.db``, same durability
    as ``buffer.durability``)."""

    max_backlog: int = Field(default=200_000, ge=1000)
    process_batch: int = Field(default=500, ge=1, le=100_000)


class BufferSection(_Section):
    """The durable store-and-forward buffer (SQLite, WAL) in ``gateway.data_dir``."""

    max_bytes: int = Field(default=1 << 30, ge=4096)
    overflow: Literal["drop_oldest", "backpressure"] = "drop_oldest"
    durability: Literal["process", "power-loss"] = "power-loss"
    retention_s: float = Field(default=7 * 24 * 3600, gt=0)
    dedup_window: int = Field(default=256, ge=1, le=65536)


class UplinkSection(_Section):
    """Forwarding batches to the cloud's ``POST /v1/ingest``."""

    url: str = "http://127.0.0.1:8000"
    token: SecretStr = SecretStr("")
    max_batch_rows: int = Field(default=500, ge=1)
    max_batch_bytes: int = Field(default=1 << 20, ge=1024)
    linger_ms: float = Field(default=200.0, ge=0)
    timeout_s: float = Field(default=10.0, gt=0)
    gzip: bool = True
    retry_min_s: float = Field(default=0.5, gt=0)
    retry_max_s: float = Field(default=60.0, gt=0)
    retry_after_max_s: float = Field(default=300.0, gt=0)
    breaker_failures: int = Field(default=5, ge=1)
    breaker_reset_s: float = Field(default=30.0, gt=0)
    shutdown_flush_s: float = Field(default=5.0, ge=0)

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError("must be an http:// or https:// base URL of the cloud")
        return value.rstrip("/")


class HealthSection(_Section):
    """The local HTTP port serving /healthz, /readyz and /metrics (0 turns it off)."""

    host: str = "127.0.0.1"
    port: int = Field(default=9108, ge=0, le=65535)


class LogSection(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["text", "json"] = "text"


class GatewaySettings(BaseSettings):
    """Every gateway setting; build it with :meth:`load`."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid"
    )

    gateway: GatewaySection = GatewaySection()
    mqtt: MqttSection = MqttSection()
    intake: IntakeSection = IntakeSection()
    buffer: BufferSection = BufferSection()
    uplink: UplinkSection = UplinkSection()
    health: HealthSection = HealthSection()
    log: LogSection = LogSection()
    detect: DetectSettings = Field(default_factory=DetectSettings)

    @classmethod
    def load(
        cls, path: Path | str | None, env: Mapping[str, str] | None = None
    ) -> GatewaySettings:
        """Settings from ``path`` (TOML) and ``env`` (default: the process environment, read
        only); :class:`~common.settings.ConfigError` (one line) if invalid or unreadable."""
        return load_settings(cls, path, env_prefix=ENV_PREFIX, env=env)

    def masked(self) -> dict[str, Any]:
        """The effective settings as plain data with every secret replaced by ``***``."""
        return _mask(self.model_dump(mode="json"), self)

    @property
    def client_id(self) -> str:
        return self.mqtt.client_id or f"iotgw-{self.gateway.id}"


def _mask(data: dict[str, Any], model: BaseModel) -> dict[str, Any]:
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, SecretStr):
            data[name] = "***" if value.get_secret_value() else ""
        elif isinstance(value, BaseModel):
            data[name] = _mask(data[name], value)
    return data
