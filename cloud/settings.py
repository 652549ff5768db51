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

import ipaddress
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from cloud.alerting.settings import AlertingSettings
from common.settings import load

ENV_PREFIX = "IOTGW_CLOUD_"
#: What a boolean setting may be spelled as in the environment (pydantic's lax booleans).
_BOOL_TEXTS = frozenset({"true", "false", "1", "0", "yes", "no", "on", "off", "t", "f", "y", "n"})


def is_loopback_url(url: str) -> bool:
    """Whether ``url``'s host is this machine's loopback (a name other than ``localhost``
    is not resolved: it counts as remote).

    >>> is_loopback_url("http://localhost:8086"), is_loopback_url("http://127.0.0.2")
    (True, True)
    >>> is_loopback_url("http://10.0.0.5:8086"), is_loopback_url("http://influx:8086")
    (False, False)
    """
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ServerSettings(_Section):
    """How uvicorn serves the API."""

    host: str = Field(default="127.0.0.1", description="Listen address.")
    port: int = Field(default=8080, ge=0, le=65535,
                      description="Listen port (the gateway's uplink.url default points here).")
    workers: int = Field(default=1, ge=1, le=64, description="Worker processes.")
    log_level: Literal["critical", "error", "warning", "info", "debug"] = Field(
        default="info", description="Least severe level logged.")
    log_format: Literal["text", "json"] = Field(
        default="text", description="text, or json: one object per line with the request id.")
    #: An ingest batch allocates tens of thousands of short-lived objects; with Python's
    #: defaults the collector took ~20% of ingest CPU rescanning the long-lived heap.
    gc_threshold: int = Field(default=20_000, ge=0, description=(
        "Workers freeze the start-up heap and collect the youngest generation every this many "
        "new objects (Python's default is 700; 0 leaves the collector alone)."))


class StoreSettings(_Section):
    """The time-series store: ``sqlite`` (embedded default) or ``influxdb`` (v1 HTTP API)."""

    kind: Literal["sqlite", "influxdb"] = Field(default="sqlite", description=(
        "sqlite (embedded) or influxdb (v1-compatible HTTP API: 1.x, 2.x, 3.x)."))
    path: Path = Field(default=Path("series.sqlite3"), description=(
        'SQLite file; relative paths are under ``data_dir``.'))
    url: str = Field(default="http://127.0.0.1:8086", description="InfluxDB base URL.")
    database: str = Field(default="iotgw", description="InfluxDB database.")
    retention_policy: str = Field(default="", description=(
        "Retention policy to write to and read from; empty means the database's default."))
    precision: Literal["ms", "s", "u", "ns"] = Field(default="ms", description=(
        'Timestamp precision sent with every write (readings carry UTC milliseconds).'))
    username: str = Field(default="", description="InfluxDB basic auth user name.")
    password: SecretStr = Field(default=SecretStr(""), description=(
        "InfluxDB password; keep it out of the file: IOTGW_CLOUD_STORE__PASSWORD."))
    token: SecretStr = Field(default=SecretStr(""), description=(
        'Sent as ``Authorization: Token <token>``; takes precedence over username/password.'))
    timeout_s: float = Field(default=10.0, gt=0, description="Per-request deadline.")
    #: Compression buys bandwidth; toward an influxd on this host it only costs CPU on both
    #: sides (gzip level 1 here, gunzip there), so ``auto`` compresses unless ``url`` is
    #: loopback (decision 75).
    gzip: bool | Literal["auto"] = Field(default="auto", description=(
        "Compress writes (level 1): auto compresses unless url is a loopback address "
        "(localhost, 127.0.0.0/8, ::1), where it only costs CPU; true or false forces it."))
    batch_size: int = Field(default=5000, ge=1, description=(
        'Points per HTTP write request.'))
    create_database: bool = Field(default=True, description=(
        'Create the database at start-up when missing (needs the privilege to do so).'))
    verify_tls: bool = Field(default=True, description="Verify the store's TLS certificate.")

    @field_validator("gzip", mode="before")
    @classmethod
    def _gzip_mode(cls, value: Any) -> Any:
        text = str(value).strip().lower()
        if text == "auto":
            return "auto"
        if isinstance(value, bool) or text in _BOOL_TEXTS:
            return value
        raise ValueError(f"should be true, false or \"auto\", not {value!r}")

    def compress_writes(self) -> bool:
        """Whether writes are gzip-compressed: ``gzip`` as set, or for ``auto`` whether
        ``url`` names a host other than this one.

        >>> StoreSettings(url="http://127.0.0.1:8086").compress_writes()
        False
        >>> StoreSettings(url="https://influx.example:8086").compress_writes()
        True
        >>> StoreSettings(url="http://[::1]:8086", gzip=True).compress_writes()
        True
        """
        if self.gzip != "auto":
            return bool(self.gzip)
        return not is_loopback_url(self.url)


class MetadataSettings(_Section):
    """SQLAlchemy URL of the metadata database; empty means SQLite in ``data_dir``."""

    url: str = Field(default="", description=(
        "SQLAlchemy URL, e.g. postgresql+psycopg://user@host/db; empty: SQLite in data_dir."))
    echo: bool = Field(default=False, description="Log every SQL statement.")
    registry_flush_s: float = Field(default=1.0, ge=0, description=(
        "Last-seen updates of known streams are written at most this often (new devices at "
        "once; 0: every batch)."))
    #: Apply pending schema migrations when the cloud starts (``iotgw cloud migrate`` does it
    #: by hand). With false, a database that needs migrating is refused at start.
    auto_migrate: bool = Field(default=True, description=(
        "Apply pending schema migrations at start; false: refuse a database that needs them."))


class AuthSettings(_Section):
    """Access control (docs/security.md). Every ``/v1`` route needs a token with its scope."""

    probes: Literal["loopback", "token", "open"] = Field(default="loopback", description=(
        "Who may read /readyz and /metrics: loopback (local clients without a token, others "
        "with a read token), token (a read token always) or open. Behind a reverse proxy on "
        "the same host use token."))
    last_used_every_s: float = Field(default=60.0, ge=0, description=(
        "A token's last use is written at most this often (per token and process)."))
    token_cache_s: float = Field(default=2.0, ge=0, description=(
        "How long a process trusts a token it has looked up (no database read, no thread "
        "hand-off per request); a revocation made through another process or replica takes "
        "effect within this, one made through this process at once. 0: read every time."))
    owner_cache_s: float = Field(default=30.0, ge=0, description=(
        "How long a process trusts cached device owners; a binding made elsewhere takes "
        "effect within this."))


class LimitsSettings(_Section):
    """Documented limits of the API (see docs/schema.md)."""

    max_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1024, description=(
        'Largest request body, compressed or decompressed (HTTP 413 above).'))
    max_readings_per_batch: int = Field(default=10_000, ge=1,
                                        description="Most readings in one ingest batch.")
    max_anomalies_per_batch: int = Field(default=1_000, ge=0,
                                         description="Most anomaly events in one ingest batch.")
    max_concurrent_ingest: int = Field(default=16, ge=1, description=(
        'Ingest requests processed at once; more get HTTP 429 with Retry-After.'))
    idempotency_ttl_s: float = Field(default=7 * 86400, gt=0, description=(
        'How long a completed response is replayed for its Idempotency-Key.'))
    inflight_lease_s: float = Field(default=60.0, gt=0, description=(
        "After this long an unfinished (crashed) request's key may be claimed again."))
    retry_after_s: int = Field(default=5, ge=1, description=(
        'Seconds a client is told to wait (Retry-After) when the store is down or busy.'))
    series_point_budget: int = Field(default=2000, ge=10, le=100_000, description=(
        'Most buckets one ``/v1/series`` response may hold.'))
    max_query_range_s: int = Field(default=400 * 86400, ge=60, description=(
        'Longest ``start``..``end`` range of a query.'))
    max_trend_window_s: int = Field(default=90 * 86400, ge=60, description=(
        'Longest ``window`` of ``/v1/trends``.'))
    max_anomalies_per_query: int = Field(default=10_000, ge=1, description=(
        'Most entries ``/v1/anomalies`` returns.'))
    max_future_skew_s: float = Field(default=3600.0, ge=0, le=200 * 366 * 86400, description=(
        "Readings and anomalies stamped further ahead of the cloud's clock are rejected per "
        "entry. Buffering only makes timestamps older, so this covers clock error: an hour "
        "keeps a drifting RTC working and refuses a clock set to the wrong day or year."))
    max_admin_body_bytes: int = Field(default=64 * 1024, ge=1024, le=16 * 1024 * 1024,
                                      description=(
        "Largest body of a route other than ``/v1/ingest`` (rules, silences, webhooks, acks)."))


class DownsampleSettings(_Section):
    """Scheduled 1-minute aggregates of the readings, written back through ``/write`` (the
    retention plan for InfluxDB 3, which has no continuous queries; docs/scaling.md)."""

    enabled: bool = Field(default=False, description=(
        "Aggregate the readings on a schedule (InfluxDB store only; on 1.x a continuous query "
        "does the same inside influxd)."))
    every_s: int = Field(default=60, ge=1, le=86400, description=(
        "Aggregate interval: one point per series and interval (mean, min, max, count)."))
    run_every_s: float = Field(default=60.0, ge=1, description="How often a run starts.")
    lookback_s: int = Field(default=600, ge=60, le=7 * 86400, description=(
        "Each run recomputes the intervals of this past window, so readings a gateway "
        "delivers late (after a short outage) are counted; rewriting an interval is harmless."))
    lag_s: int = Field(default=30, ge=0, le=3600, description=(
        "Intervals ending less than this long ago wait for the next run."))
    database: str = Field(default="", description=(
        "Database of the aggregates; empty: the store's database."))
    retention_policy: str = Field(default="", description=(
        "Retention policy of the aggregates (InfluxDB 1.x/2.x), e.g. a one-year policy."))
    measurement: str = Field(default="readings_1m", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$",
                             description="Measurement of the aggregates.")


class CloudSettings(BaseModel):
    """Every setting of the cloud service."""

    model_config = ConfigDict(extra="forbid")

    data_dir: Path = Field(default=Path("data"), description=(
        'Directory for the embedded SQLite files (metadata, series).'))
    server: ServerSettings = Field(default_factory=ServerSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    metadata: MetadataSettings = Field(default_factory=MetadataSettings)
    limits: LimitsSettings = Field(default_factory=LimitsSettings)
    alerting: AlertingSettings = Field(default_factory=AlertingSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    downsample: DownsampleSettings = Field(default_factory=DownsampleSettings)

    @model_validator(mode="after")
    def _downsample_needs_influxdb(self) -> CloudSettings:
        if self.downsample.enabled and self.store.kind != "influxdb":
            raise ValueError("downsample.enabled needs store.kind = \"influxdb\" (the embedded "
                             "SQLite store aggregates at query time)")
        return self

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
