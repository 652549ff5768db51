"""The metadata tables of rules, alerts, silences, webhooks and pipeline health.

They are declared on the cloud's metadata (``cloud.meta.db.metadata``), so the metadata
database creates them at start-up (SQLite by default, PostgreSQL for several replicas);
:func:`create_tables` does the same on its own and is idempotent. Times are UTC ms.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from cloud.alerting.db import Database
from cloud.meta.db import metadata

#: Rule specifications; ``spec`` is the JSON of the rule model (kind-specific fields).
rules = Table(
    "alert_rules",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("spec", Text, nullable=False),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("created_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
)

#: Alerts. ``open_key`` (rule id + series) is set while the alert is open and NULL once
#: resolved; its unique index is what keeps two replicas from opening the same alert twice.
alerts = Table(
    "alerts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("rule_id", String(40), nullable=False),
    Column("rule_name", String(200), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("site", String(64), nullable=True),
    Column("device", String(64), nullable=False),
    Column("sensor", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("open_key", String(400), nullable=True),
    Column("started_ms", BigInteger, nullable=False),
    Column("fired_ms", BigInteger, nullable=True),
    Column("resolved_ms", BigInteger, nullable=True),
    Column("updated_ms", BigInteger, nullable=False),
    Column("value", Float, nullable=True),
    Column("message", Text, nullable=False, default=""),
    Column("acked_ms", BigInteger, nullable=True),
    Column("acked_by", String(200), nullable=True),
    Column("silenced", Boolean, nullable=False, default=False),
    Column("notified", Boolean, nullable=False, default=False),
    Index("ux_alerts_open_key", "open_key", unique=True),
    Index("ix_alerts_state", "state", "severity"),
)

silences = Table(
    "alert_silences",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("matchers", Text, nullable=False),
    Column("starts_ms", BigInteger, nullable=False),
    Column("ends_ms", BigInteger, nullable=False),
    Column("comment", Text, nullable=False, default=""),
    Column("created_by", String(200), nullable=False, default=""),
    Column("created_ms", BigInteger, nullable=False),
)

webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("url", Text, nullable=False),
    Column("events", Text, nullable=False),
    Column("secret", String(100), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("disabled_reason", Text, nullable=True),
    Column("created_ms", BigInteger, nullable=False),
)

#: The durable outbox: one row per (event, endpoint); its id is the ``webhook-id`` header.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("endpoint_id", String(40), nullable=False),
    Column("event_type", String(64), nullable=False),
    Column("payload", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_ms", BigInteger, nullable=False),
    Column("claim_token", String(40), nullable=True),
    Column("claim_until_ms", BigInteger, nullable=True),
    Column("last_status", Integer, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_ms", BigInteger, nullable=False),
    Column("delivered_ms", BigInteger, nullable=True),
    Index("ix_deliveries_due", "state", "next_attempt_ms"),
    Index("ix_deliveries_endpoint", "endpoint_id", "created_ms"),
)

webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("delivery_id", String(40), nullable=False),
    Column("at_ms", BigInteger, nullable=False),
    Column("status", Integer, nullable=True),
    Column("error", Text, nullable=True),
    Column("duration_ms", Integer, nullable=False),
    Index("ix_attempts_delivery", "delivery_id"),
)

#: What the ingest path has seen per stream (device, sensor): freshness and schema.
stream_stats = Table(
    "pipeline_streams",
    metadata,
    Column("device", String(64), primary_key=True),
    Column("sensor", String(64), primary_key=True),
    Column("site", String(64), nullable=True),
    Column("unit", String(16), nullable=True),
    Column("value_type", String(8), nullable=False),
    Column("first_seen_ms", BigInteger, nullable=False),
    Column("last_ts_ms", BigInteger, nullable=False),
    Column("last_ingest_ms", BigInteger, nullable=False),
    Column("last_lag_ms", BigInteger, nullable=False),
)

#: Readings per device per bucket (volume baseline).
volume_buckets = Table(
    "pipeline_volume",
    metadata,
    Column("device", String(64), primary_key=True),
    Column("bucket_ms", BigInteger, primary_key=True),
    Column("readings", Integer, nullable=False),
)

#: Per bucket: readings on time (queryable within the SLA) and ingest requests by outcome.
sla_buckets = Table(
    "pipeline_sla",
    metadata,
    Column("bucket_ms", BigInteger, primary_key=True),
    Column("readings", Integer, nullable=False, default=0),
    Column("on_time", Integer, nullable=False, default=0),
    Column("requests_ok", Integer, nullable=False, default=0),
    Column("requests_failed", Integer, nullable=False, default=0),
)

#: Edge anomaly events per stream per bucket (anomaly-rate rules).
anomaly_buckets = Table(
    "pipeline_anomalies",
    metadata,
    Column("device", String(64), primary_key=True),
    Column("sensor", String(64), primary_key=True),
    Column("bucket_ms", BigInteger, primary_key=True),
    Column("site", String(64), nullable=True),
    Column("events", Integer, nullable=False),
)

#: Schema changes seen on ingest: new sensor, changed unit or type (vanished: computed).
schema_changes = Table(
    "pipeline_schema_changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("device", String(64), nullable=False),
    Column("sensor", String(64), nullable=False),
    Column("change", String(32), nullable=False),
    Column("detail", Text, nullable=False),
    Column("at_ms", BigInteger, nullable=False),
    Index("ix_schema_changes_at", "at_ms"),
)


def create_tables(db: Database) -> None:
    """Create the tables that do not exist yet (idempotent)."""
    with db.begin() as conn:
        metadata.create_all(conn)
