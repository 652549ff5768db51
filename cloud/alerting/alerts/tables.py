"""The alerts and silences tables, declared on the cloud's metadata. Times are UTC ms."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Float, Index, Integer, String, Table, Text

from cloud.meta.db import metadata

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
