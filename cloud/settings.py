"""Typed settings of the cloud service: a TOML file plus the environment.

Sections: ``[server]`` (uvicorn), ``[store]`` (time-series store), ``[metadata]`` (SQLAlchemy
database for tokens, idempotency records and the device registry), ``[limits]``, ``[alerting]``
and ``[auth]``. Environment
variables override the file: ``IOTGW_CLOUD_<SECTION>__<KEY>``, e.g.
``IOTGW_CLOUD_STORE__KIND=influxdb``. :func:`load_settings` validates everything at start-up
through the one loader, :func:`common.settings.load`, and raises
:class:`~common.settings.ConfigError` with one line naming the file (or variable) and the key.

>>> s = load_settings(None, store={"kind": "sqlite"})
>>> s.store.kind, s.limits.series_point_budget
('sqlite', 2000)
>>> load_settings(None, store={"kind": "mysql"})
Traceback (most recent call last):
...
common.settings.ConfigError: store.kind: Input should be 'sqlite' or 'influxdb'
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from cloud.alerting.settings import AlertingSettings
from common.settings import load

ENV_PREFIX = "IOTGW_CLOUD_"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ServerSettings(_Section):
    """How uvicorn serves the API."""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"
    #: Garbage-collector tuning of ``iotgw cloud run`` workers: objects alive after start-up
    #: are frozen out of collections, and the youngest generation is collected every this
    #: many new container objects (Python's default is 700; 0 leaves the collector alone).
    #: An ingest batch allocates tens of thousands of short-lived objects; with the defaults
    #: the collector took ~20% of ingest CPU rescanning the long-lived heap.
    gc_threshold: int = Field(default=20_000, ge=0)


class StoreSettings(_Section):
    """The time-series store: ``sqlite`` (embedded default) or ``influxdb`` (v1 HTTP API)."""

    kind: Literal["sqlite", "influxdb"] = "sqlite"
    #: SQLite file; relative paths are under ``data_dir``.
    path: Path = Path("series.sqlite3")
    url: str = "http://127.0.0.1:8086"
    database: str = "iotgw"
    #: Retention policy to write to and read from; empty means the database's default.
    retention_policy: str = ""
    #: Timestamp precision sent with every write (readings carry UTC milliseconds).
    precision: Literal["ms", "s", "u", "ns"] = "ms"
    username: str = ""
    password: SecretStr = SecretStr("")
    #: Sent as ``Authorization: Token <token>``; takes precedence over username/password.
    token: SecretStr = SecretStr("")
    timeout_s: float = Field(default=10.0, gt=0)
    gzip: bool = True
    #: Points per HTTP write request.
    batch_size: int = Field(default=5000, ge=1)
    #: Create the database at start-up when missing (needs the privilege to do so).
    create_database: bool = True
    verify_tls: bool = True


class MetadataSettings(_Section):
    """SQLAlchemy URL of the metadata database; empty means SQLite in ``data_dir``."""

    url: str = ""
    echo: bool = False
    #: The device registry writes last-seen updates of known streams at most this often
    #: (merged in memory); a new device or sensor is written at once. 0 writes every batch.
    registry_flush_s: float = Field(default=1.0, ge=0)
    #: Apply pending schema migrations when the cloud starts (``iotgw cloud migrate`` does it
    #: by hand). With false, a database that needs migrating is refused at start.
    auto_migrate: bool = True


class AuthSettings(_Section):
    """Access control (docs/security.md). Every ``/v1`` route needs a token with its scope."""

    #: Who may read ``/readyz`` and ``/metrics``: ``loopback`` (clients on 127.0.0.1 or ::1
    #: without a token, any other with a ``read`` token), ``token`` (a ``read`` token always)
    #: or ``open`` (anyone). Behind a reverse proxy on the same host every client looks like
    #: loopback: use ``token`` there, or block these paths at the proxy.
    probes: Literal["loopback", "token", "open"] = "loopback"
    #: A token's last use is written at most this often (per token and process).
    last_used_every_s: float = Field(default=60.0, ge=0)
    #: How long a process trusts its cached device owners: a binding made by another
    #: process (worker, replica, the CLI) takes effect within this; one made here at once.
    owner_cache_s: float = Field(default=30.0, ge=0)


class LimitsSettings(_Section):
    """Documented limits of the API (see docs/schema.md)."""

    #: Largest request body, compressed or decompressed (HTTP 413 above).
    max_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    max_readings_per_batch: int = Field(default=10_000, ge=1)
    max_anomalies_per_batch: int = Field(default=1_000, ge=0)
    #: Ingest requests processed at once; more get HTTP 429 with Retry-After.
    max_concurrent_ingest: int = Field(default=16, ge=1)
    #: How long a completed response is replayed for its Idempotency-Key.
    idempotency_ttl_s: float = Field(default=7 * 86400, gt=0)
    #: After this long an unfinished (crashed) request's key may be claimed again.
    inflight_lease_s: float = Field(default=60.0, gt=0)
    #: Seconds a client is told to wait (Retry-After) when the store is down or busy.
    retry_after_s: int = Field(default=5, ge=1)
    #: Most buckets one ``/v1/series`` response may hold.
    series_point_budget: int = Field(default=2000, ge=10, le=100_000)
    #: Longest ``start``..``end`` range of a query.
    max_query_range_s: int = Field(default=400 * 86400, ge=60)
    #: Longest ``window`` of ``/v1/trends``.
    max_trend_window_s: int = Field(default=90 * 86400, ge=60)
    #: Most entries ``/v1/anomalies`` returns.
    max_anomalies_per_query: int = Field(default=10_000, ge=1)
    #: Readings and anomalies stamped further ahead of the cloud's clock are rejected per
    #: entry. Buffering only makes timestamps older, so this only has to cover clock error;
    #: one hour keeps a drifting RTC working and refuses a clock set to the wrong day or year
    #: (which would otherwise sit at the top of every "newest reading" forever).
    max_future_skew_s: float = Field(default=3600.0, ge=0, le=200 * 366 * 86400)
    #: Largest body of a route other than ``/v1/ingest`` (rules, silences, webhooks, acks).
    max_admin_body_bytes: int = Field(default=64 * 1024, ge=1024, le=16 * 1024 * 1024)


class CloudSettings(BaseSettings):
    """Every setting of the cloud service."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid",
    )

    #: Directory for the embedded SQLite files (metadata, series).
    data_dir: Path = Path("data")
    server: ServerSettings = Field(default_factory=ServerSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    metadata: MetadataSettings = Field(default_factory=MetadataSettings)
    limits: LimitsSettings = Field(default_factory=LimitsSettings)
    alerting: AlertingSettings = Field(default_factory=AlertingSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)

    def metadata_url(self) -> str:
        """The metadata database URL, defaulting to SQLite in ``data_dir``."""
        return self.metadata.url or f"sqlite:///{self.data_dir / 'meta.sqlite3'}"

    def series_path(self) -> Path:
        """The SQLite series file (``store.path`` under ``data_dir`` unless absolute)."""
        return self.store.path if self.store.path.is_absolute() else self.data_dir / self.store.path


def load_settings(path: Path | str | None = None, env: Mapping[str, str] | None = None,
                  **overrides: Any) -> CloudSettings:
    """Settings from ``path`` (TOML, optional), ``env`` (default: the process environment, read
    only) and ``overrides`` (highest); :class:`~common.settings.ConfigError` if invalid."""
    return load(CloudSettings, path, env_prefix=ENV_PREFIX, env=env, overrides=overrides)
