"""The pipeline-health tables: what the ingest path has seen per stream, per device and per bucket.

Declared on the cloud's metadata (``cloud.meta.db.metadata``) like every alerting table, so the
metadata database creates them at start-up. Times are UTC ms. The monitors write them
(:mod:`cloud.alerting.monitors.recorder`) and read them (the checks); rules read them through
their evaluation context.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from cloud.meta.db import metadata

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
