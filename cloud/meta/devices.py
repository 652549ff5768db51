"""The device registry: every device and sensor the cloud has stored data for, with last-seen.

``last_ts_ms`` is the newest *device* timestamp stored; ``last_ingest_ms`` is when the cloud last
received data for it (freshness monitors need both).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import BigInteger, Column, PrimaryKeyConstraint, String, Table, func, select

from cloud.meta.db import MetaDB, metadata, now_ms

devices = Table(
    "devices",
    metadata,
    Column("device", String(256), primary_key=True),
    Column("site", String(256), nullable=True),
    Column("gateway_id", String(128), nullable=True),
    Column("first_seen_ms", BigInteger, nullable=False),
    Column("last_ts_ms", BigInteger, nullable=False),
    Column("last_ingest_ms", BigInteger, nullable=False),
)

device_sensors = Table(
    "device_sensors",
    metadata,
    Column("device", String(256), nullable=False),
    Column("sensor", String(256), nullable=False),
    Column("unit", String(64), nullable=True),
    Column("last_ts_ms", BigInteger, nullable=False),
    PrimaryKeyConstraint("device", "sensor"),
)


@dataclass(frozen=True, slots=True)
class SeenStream:
    """The newest reading of one (device, sensor) in a batch."""

    device: str
    sensor: str
    ts_ms: int
    site: str | None = None
    unit: str | None = None


@dataclass(slots=True)
class DeviceInfo:
    device: str
    site: str | None
    gateway_id: str | None
    first_seen_ms: int
    last_ts_ms: int
    last_ingest_ms: int
    sensors: list[dict[str, object]] = field(default_factory=list)


class DeviceRegistry:
    """Record what was stored and list it."""

    def __init__(self, db: MetaDB) -> None:
        self.db = db

    def record(self, gateway_id: str, seen: Iterable[SeenStream]) -> None:
        """Upsert devices and sensors; last-seen only moves forward."""
        now = now_ms()
        rows = list(seen)
        if not rows:
            return
        per_device: dict[str, SeenStream] = {}
        for s in rows:
            cur = per_device.get(s.device)
            if cur is None:
                per_device[s.device] = s
            elif s.ts_ms > cur.ts_ms or (cur.site is None and s.site is not None):
                per_device[s.device] = SeenStream(
                    s.device, "", max(s.ts_ms, cur.ts_ms),
                    s.site if s.site is not None and (s.ts_ms > cur.ts_ms or cur.site is None)
                    else cur.site)
        greatest = func.max if self.db.dialect == "sqlite" else func.greatest
        dev = self.db.insert(devices)
        dev = dev.on_conflict_do_update(index_elements=["device"], set_={
            "site": func.coalesce(dev.excluded.site, devices.c.site),
            "gateway_id": dev.excluded.gateway_id,
            "last_ts_ms": greatest(devices.c.last_ts_ms, dev.excluded.last_ts_ms),
            "last_ingest_ms": dev.excluded.last_ingest_ms,
        })
        sen = self.db.insert(device_sensors)
        sen = sen.on_conflict_do_update(index_elements=["device", "sensor"], set_={
            "unit": func.coalesce(sen.excluded.unit, device_sensors.c.unit),
            "last_ts_ms": greatest(device_sensors.c.last_ts_ms, sen.excluded.last_ts_ms),
        })
        # Sorted, so concurrent batches lock rows in the same order (no deadlocks on PostgreSQL).
        with self.db.engine.begin() as conn:
            conn.execute(dev, [
                {"device": s.device, "site": s.site, "gateway_id": gateway_id,
                 "first_seen_ms": now, "last_ts_ms": s.ts_ms, "last_ingest_ms": now}
                for s in sorted(per_device.values(), key=lambda x: x.device)])
            conn.execute(sen, [
                {"device": s.device, "sensor": s.sensor, "unit": s.unit, "last_ts_ms": s.ts_ms}
                for s in sorted(rows, key=lambda x: (x.device, x.sensor))])

    def list(self, device: str | None = None) -> list[DeviceInfo]:
        """All devices (or one) with their sensors, ordered by name."""
        q = select(devices).order_by(devices.c.device)
        sq = select(device_sensors).order_by(device_sensors.c.device, device_sensors.c.sensor)
        if device is not None:
            q = q.where(devices.c.device == device)
            sq = sq.where(device_sensors.c.device == device)
        with self.db.engine.connect() as conn:
            out = {r.device: DeviceInfo(r.device, r.site, r.gateway_id, r.first_seen_ms,
                                        r.last_ts_ms, r.last_ingest_ms)
                   for r in conn.execute(q)}
            for r in conn.execute(sq):
                if r.device in out:
                    out[r.device].sensors.append(
                        {"sensor": r.sensor, "unit": r.unit, "last_ts": r.last_ts_ms}
                    )
        return list(out.values())
