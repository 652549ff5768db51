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

from common.sample_config import masked
from common.settings import load as load_settings
from firmware_protocol.errors import TopicError
from firmware_protocol.topics import Subscription
from gateway.detect.settings import DetectSettings

ENV_PREFIX = "IOTGW_GATEWAY_"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GatewaySection(_Section):
    """Who this gateway is and where it keeps its data."""

    id: str = Field(default_factory=lambda: socket.gethostname() or "gateway", min_length=1,
                    description="Sent to the cloud with every batch; default: the host name.")
    data_dir: Path = Field(default=Path("gateway-data"), description=(
        "Directory of gateway.db (buffer, dead letters, dedup window) and detector state."))


class TlsSection(_Section):
    """TLS to the broker; on when ``mqtt.url`` uses ``mqtts://`` or ``enabled`` is true."""

    enabled: bool = Field(default=False, description="TLS even with an mqtt:// URL.")
    ca_file: Path | None = Field(default=None, description="CA bundle to verify the broker.")
    cert_file: Path | None = Field(default=None, description="Client certificate (PEM).")
    key_file: Path | None = Field(default=None, description="Client private key (PEM).")
    insecure: bool = Field(default=False,
                           description="Skip certificate verification (tests only).")


class SubscriptionSection(_Section):
    """One subscription: a topic template (``{site}``, ``{device}``, ``{format}`` tags) and the
    codec; without ``codec`` the topic's ``{format}`` level picks it."""

    topic: str = Field(default="sensors/{site}/{device}/{format}", description=(
        "Topic template: {name} captures one level as a tag, + and # match uncaptured."))
    codec: str | None = Field(default=None, description=(
        "binary, json, senml-json or senml-cbor; unset: the {format} level picks it."))

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
    """The broker connection and the group commit that decides when messages are acknowledged.

    ``urls`` lists the nodes of a clustered broker (NATS, EMQX, HiveMQ, VerneMQ): the intake
    connects to the first and moves to the next on a failed connect or a lost connection, with
    the same client id and persistent session. Without ``urls``, ``url`` is the one broker.
    """

    url: str = Field(default="mqtt://127.0.0.1:1883",
                     description="The broker: mqtt://host:1883 or mqtts://host:8883.")
    urls: list[str] = Field(default_factory=list, description=(
        "Several nodes of one clustered broker (e.g. NATS), tried in turn on failure with "
        "the same client id and session; when set, url is ignored."))
    client_id: str | None = Field(default=None, description=(
        "Fixed and unique per gateway: it names the persistent session; "
        "unset: iotgw-<gateway.id>."))
    username: str | None = Field(default=None, description="Broker user name.")
    password: SecretStr | None = Field(default=None, description=(
        "Broker password; keep it out of the file: IOTGW_GATEWAY_MQTT__PASSWORD."))
    protocol: Literal["3.1.1", "5"] = Field(default="3.1.1", description="MQTT version.")
    keepalive_s: int = Field(default=30, ge=5, le=3600, description="MQTT keep-alive.")
    session_expiry_s: int = Field(default=7 * 24 * 3600, ge=0, description=(
        "MQTT 5: how long the broker keeps our session while we are away."))
    receive_maximum: int = Field(default=4000, ge=1, le=65535, description=(
        "MQTT 5: unacknowledged messages the broker may send us."))
    reconnect_min_s: float = Field(default=0.5, gt=0, description=(
        "First reconnect delay; doubles with jitter up to reconnect_max_s."))
    reconnect_max_s: float = Field(default=30.0, gt=0, le=3600,
                                   description="Longest reconnect delay.")
    commit_max_messages: int = Field(default=1000, ge=1, le=100_000,
                                     description="Largest group commit (messages).")
    commit_max_delay_ms: float = Field(default=0.0, ge=0, le=10_000, description=(
        "Wait this long for a commit to fill; 0: commit once the socket is drained."))
    decode_worker: bool = Field(default=False, description=(
        "Decode in a second process (faster with a free core; ~35 MB more memory)."))
    subscriptions: list[SubscriptionSection] = Field(
        default_factory=lambda: [SubscriptionSection()], min_length=1,
        description="Topic templates to subscribe to (an array of tables).")
    tls: TlsSection = Field(default_factory=TlsSection)

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        return _broker_url(value)

    @field_validator("urls")
    @classmethod
    def _check_urls(cls, value: list[str]) -> list[str]:
        for v in value:
            try:
                _broker_url(v)
            except ValueError as exc:
                raise ValueError(f"{v!r} {exc}") from None
        return value

    @property
    def broker_urls(self) -> list[str]:
        """The nodes to connect to, in order: ``urls``, or else ``[url]``."""
        return list(self.urls) or [self.url]

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or "127.0.0.1"

    @property
    def use_tls(self) -> bool:
        return self.tls.enabled or any(
            urlsplit(u).scheme in {"mqtts", "ssl"} for u in self.broker_urls)

    @property
    def port(self) -> int:
        return urlsplit(self.url).port or (8883 if self.use_tls else 1883)


def _broker_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in {"mqtt", "mqtts", "tcp", "ssl"} or not parts.hostname:
        raise ValueError("must look like mqtt://host:1883 or mqtts://host:8883")
    return value


class IntakeSection(_Section):
    """The raw intake log between acknowledging and processing (``intake.db``, same durability
    as ``buffer.durability``)."""

    max_backlog: int = Field(default=200_000, ge=1000, description=(
        "Acknowledged, unprocessed messages the intake log may hold; at this many the gateway "
        "stops acknowledging the broker."))
    process_batch: int = Field(default=500, ge=1, le=100_000, description=(
        "Intake log entries the processing stage handles per transaction."))
    process_linger_ms: float = Field(default=25.0, ge=0, le=1000, description=(
        "With fewer than process_batch entries waiting, the processing stage waits until the "
        "oldest is this old for more to join it: fewer, larger transactions at moderate "
        "rates, at most this much added latency."))


class BufferSection(_Section):
    """The durable store-and-forward buffer (SQLite, WAL) in ``gateway.data_dir``."""

    max_bytes: int = Field(default=1 << 30, ge=4096,
                           description="Size bound (row bodies + 48 bytes per row).")
    overflow: Literal["drop_oldest", "backpressure"] = Field(default="drop_oldest", description=(
        "When full: drop the oldest rows (counted), or stop acknowledging the broker."))
    durability: Literal["process", "power-loss"] = Field(default="power-loss", description=(
        "process: survives a crash; power-loss: fsync every commit that takes data in (buffer "
        "and intake log; deleting delivered rows is not synced: undone, they are resent under "
        "the same batch key)."))
    retention_s: float = Field(default=7 * 24 * 3600, gt=0,
                               description="Rows older than this are deleted (and counted).")
    dedup_window: int = Field(default=256, ge=1, le=65536, description=(
        "Messages remembered per device to detect redeliveries."))


class DeadLetterSection(_Section):
    """Bounds of the dead-letter store (anything on the network can publish garbage)."""

    max_payload_bytes: int = Field(default=64 * 1024, ge=256, description=(
        "Longer payloads are kept truncated, with their size and SHA-256."))
    max_total_bytes: int = Field(default=64 * 1024 * 1024, ge=64 * 1024, description=(
        "Past this many bytes of payloads the oldest entries are evicted (and counted)."))
    log_burst: int = Field(default=5, ge=0, description=(
        "Per-payload log lines for bad payloads per interval; then one summary line."))
    log_interval_s: float = Field(default=60.0, gt=0, description=(
        "The interval of ``log_burst``, in seconds."))


class UplinkSection(_Section):
    """Forwarding batches to the cloud's ``POST /v1/ingest``."""

    url: str = Field(default="http://127.0.0.1:8080", description=(
        "Base URL of the cloud (batches go to {url}/v1/ingest); default: the cloud's default."))
    token: SecretStr = Field(default=SecretStr(""), description=(
        "Bearer token from `iotgw cloud token create`; keep it out of the file: "
        "IOTGW_GATEWAY_UPLINK__TOKEN."))
    max_batch_rows: int = Field(default=2000, ge=1, description=(
        "Rows (messages) per batch at most: what a backlog drains in."))
    batch_ready_rows: int = Field(default=500, ge=1, description=(
        "A batch this many rows long goes without waiting linger_ms (up to max_batch_rows "
        "when more are buffered)."))
    max_batch_bytes: int = Field(default=1 << 20, ge=1024,
                                 description="Uncompressed JSON per batch.")
    max_batch_readings: int = Field(default=10_000, ge=1, description=(
        "Readings and anomaly events per batch (the cloud refuses more than its "
        "limits.max_readings_per_batch, 10,000 by default)."))
    max_batch_anomalies: int = Field(default=1000, ge=1, description=(
        "Anomaly events per batch (the cloud refuses more than its "
        "limits.max_anomalies_per_batch, 1,000 by default)."))
    max_in_flight: int = Field(default=2, ge=1, le=64, description=(
        "Batches sent at once, each read past the previous one; answers settle in order."))
    linger_ms: float = Field(default=200.0, ge=0, description="Wait this long for a batch to fill.")
    timeout_s: float = Field(default=10.0, gt=0, description="Per-request deadline.")
    gzip: bool = Field(default=True, description="Compress request bodies.")
    encoding: Literal["msgpack", "json"] = Field(default="msgpack", description=(
        "msgpack: the contract's compact batch (readings per series); json: the JSON batch "
        "earlier releases sent (for a cloud older than the compact batch)."))
    retry_min_s: float = Field(default=0.5, gt=0, description=(
        "First retry delay after a 5xx, time-out or connection error (jittered, doubling)."))
    retry_max_s: float = Field(default=60.0, gt=0, description="Longest retry delay.")
    retry_after_max_s: float = Field(default=300.0, gt=0,
                                     description="Cap on a server's Retry-After.")
    breaker_failures: int = Field(default=5, ge=1, description=(
        "Consecutive failures that open the circuit breaker."))
    breaker_reset_s: float = Field(default=30.0, gt=0,
                                   description="Open breaker: one probe after this long.")
    shutdown_flush_s: float = Field(default=5.0, ge=0,
                                    description="Last delivery attempt on SIGTERM.")

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError("must be an http:// or https:// base URL of the cloud")
        return value.rstrip("/")


class HealthSection(_Section):
    """The local HTTP port serving /healthz, /readyz and /metrics (0 turns it off)."""

    host: str = Field(default="127.0.0.1", description="Listen address.")
    port: int = Field(default=9108, ge=0, le=65535, description="Listen port; 0 turns it off.")


class LogSection(_Section):
    """Logs on stderr."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Least severe level logged; SIGHUP reloads it.")
    format: Literal["text", "json"] = Field(
        default="text", description="text, or json: one object per line.")


class PartitionSection(_Section):
    """One partition of the topic tree (``[[partition]]``), run by
    ``iotgw gateway run --partition NAME``: its own subscriptions, identity and data directory,
    so its own buffer, dedup window and detector state. A device must belong to exactly one
    partition (partition by site or topic prefix); see docs/scaling.md. ``token`` is its uplink
    token (the cloud binds a token to one gateway id); without it ``uplink.token`` is used."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description=(
        "What --partition NAME selects (letters, digits, _ . -)."))
    subscriptions: list[SubscriptionSection] = Field(min_length=1, description=(
        "This partition's topics (a device must match exactly one partition)."))
    id: str | None = Field(default=None, min_length=1, description=(
        "Gateway id of this partition; unset: <gateway.id>-<name>."))
    data_dir: Path | None = Field(default=None, description=(
        "Its own buffer, dedup and detector state; unset: <gateway.data_dir>/<name>."))
    health_port: int | None = Field(default=None, ge=0, le=65535, description=(
        "Its /healthz, /readyz and /metrics port; unset: health.port + its position (1-based; "
        "0 stays 0)."))
    token: SecretStr | None = Field(default=None, description=(
        "Its uplink token (the cloud binds a token to one gateway id); unset: uplink.token."))


class GatewaySettings(BaseModel):
    """Every gateway setting; build it with :meth:`load`."""

    model_config = ConfigDict(extra="forbid")

    gateway: GatewaySection = Field(default_factory=GatewaySection)
    mqtt: MqttSection = Field(default_factory=MqttSection)
    intake: IntakeSection = Field(default_factory=IntakeSection)
    buffer: BufferSection = Field(default_factory=BufferSection)
    deadletter: DeadLetterSection = Field(default_factory=DeadLetterSection)
    uplink: UplinkSection = Field(default_factory=UplinkSection)
    health: HealthSection = Field(default_factory=HealthSection)
    log: LogSection = Field(default_factory=LogSection)
    detect: DetectSettings = Field(default_factory=DetectSettings)
    partition: list[PartitionSection] = Field(default_factory=list, description=(
        "Partitions of the topic tree, each run as its own process (--partition NAME)."))

    @model_validator(mode="after")
    def _unique_partitions(self) -> GatewaySettings:
        names = [p.name for p in self.partition]
        if len(set(names)) != len(names):
            raise ValueError("partition names must be unique")
        return self

    def for_partition(self, name: str) -> GatewaySettings:
        """The settings of partition ``name``: its subscriptions; its id (default
        ``<gateway.id>-<name>``), client id, data directory (default ``<data_dir>/<name>``) and
        health port (default ``health.port`` + its position, 1-based; 0 stays 0)."""
        names = [p.name for p in self.partition]
        if name not in names:
            known = ", ".join(names) or "none"
            raise ValueError(f"no partition {name!r} (partitions: {known})")
        position = names.index(name) + 1
        part = self.partition[position - 1]
        port = part.health_port
        if port is None:
            port = self.health.port + position if self.health.port else 0
        return self.model_copy(update={
            "gateway": self.gateway.model_copy(update={
                "id": part.id or f"{self.gateway.id}-{part.name}",
                "data_dir": part.data_dir or self.gateway.data_dir / part.name}),
            "mqtt": self.mqtt.model_copy(update={
                "subscriptions": part.subscriptions,
                "client_id": None if self.mqtt.client_id is None
                else f"{self.mqtt.client_id}-{part.name}"}),
            "health": self.health.model_copy(update={"port": port}),
            "uplink": self.uplink.model_copy(update={"token": part.token or self.uplink.token}),
            "partition": [],
        })

    @classmethod
    def load(
        cls, path: Path | str | None, env: Mapping[str, str] | None = None
    ) -> GatewaySettings:
        """Settings from ``path`` (TOML) and ``env`` (default: the process environment, read
        only); :class:`~common.settings.ConfigError` (one line) if invalid or unreadable."""
        return load_settings(cls, path, env_prefix=ENV_PREFIX, env=env)

    def masked(self) -> dict[str, Any]:
        """The effective settings as plain data with every secret replaced by ``***``."""
        return masked(self)

    @property
    def client_id(self) -> str:
        return self.mqtt.client_id or f"iotgw-{self.gateway.id}"
