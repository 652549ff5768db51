"""The device registry: every device and sensor the cloud has stored data for, with last-seen.

``last_ts_ms`` is the newest *device* timestamp stored; ``last_ingest_ms`` is when the cloud last
received data for it (freshness monitors need both).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sqlalchemy import BigInteger, Column, PrimaryKeyConstraint, String, Table, func, select

from cloud.meta.db import MetaDB, metadata, now_ms

#: Streams remembered as written before the set starts afresh.
_KNOWN_MAX = 200_000

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


class SeenStream(NamedTuple):
    """The newest reading of one (device, sensor) in a batch (a named tuple: a batch makes
    one per stream, at about a third of a frozen dataclass's cost)."""

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

    def __init__(self, db: MetaDB, flush_every_s: float = 0.0) -> None:
        self.db = db
        self.flush_every_ms = int(flush_every_s * 1000)
        self._upserts: tuple[str, Any, Any] | None = None
        self._lock = threading.Lock()
        #: Merged rows not yet written, by device and by (device, sensor).
        self._devices: dict[str, dict[str, Any]] = {}
        self._sensors: dict[tuple[str, str], dict[str, Any]] = {}
        #: Streams this process has written (their updates may wait for the next flush).
        self._known: set[tuple[str, str]] = set()
        self._due_ms = 0

    def _statements(self) -> tuple[Any, Any]:
        """The two upserts, built once per dialect (SQLAlchemy reuses their cache keys)."""
        dialect = self.db.dialect
        if self._upserts is None or self._upserts[0] != dialect:
            greatest = func.max if dialect == "sqlite" else func.greatest
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
            self._upserts = (dialect, dev, sen)
        return self._upserts[1], self._upserts[2]

    def record(self, gateway_id: str, seen: Iterable[SeenStream]) -> None:
        """Upsert devices and sensors; last-seen only moves forward.

        With ``flush_every_s`` > 0, updates of streams already written are merged in memory
        and written at most that often (the merge gives what writing each batch in turn
        would); a batch with a stream not yet written is written at once, with everything
        pending. :meth:`list` and :meth:`flush` write what is pending first.
        """
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
        with self._lock:
            for d in per_device.values():
                self._merge_device(d, gateway_id, now)
            for s in rows:
                self._merge_sensor(s)
            fresh = not self._known.issuperset((s.device, s.sensor) for s in rows)
            if fresh or not self.flush_every_ms or now >= self._due_ms:
                self._flush_locked(now)

    def flush(self) -> None:
        """Write the merged updates still pending."""
        with self._lock:
            self._flush_locked(now_ms())

    def _merge_device(self, d: SeenStream, gateway_id: str, now: int) -> None:
        old = self._devices.get(d.device)
        if old is None:
            self._devices[d.device] = {
                "device": d.device, "site": d.site, "gateway_id": gateway_id,
                "first_seen_ms": now, "last_ts_ms": d.ts_ms, "last_ingest_ms": now}
            return
        if d.site is not None:
            old["site"] = d.site
        old["gateway_id"] = gateway_id
        old["last_ts_ms"] = max(old["last_ts_ms"], d.ts_ms)
        old["last_ingest_ms"] = now

    def _merge_sensor(self, s: SeenStream) -> None:
        key = (s.device, s.sensor)
        old = self._sensors.get(key)
        if old is None:
            self._sensors[key] = {"device": s.device, "sensor": s.sensor, "unit": s.unit,
                                  "last_ts_ms": s.ts_ms}
            return
        if s.unit is not None:
            old["unit"] = s.unit
        old["last_ts_ms"] = max(old["last_ts_ms"], s.ts_ms)

    def _flush_locked(self, now: int) -> None:
        if not self._devices and not self._sensors:
            return
        dev, sen = self._statements()
        # Sorted, so concurrent writers lock rows in the same order (no deadlocks on PostgreSQL).
        with self.db.engine.begin() as conn:
            if self._devices:
                conn.execute(dev, [self._devices[k] for k in sorted(self._devices)])
            if self._sensors:
                conn.execute(sen, [self._sensors[k] for k in sorted(self._sensors)])
        if len(self._known) > _KNOWN_MAX:
            self._known.clear()
        self._known.update(self._sensors)
        self._devices.clear()
        self._sensors.clear()
        self._due_ms = now + self.flush_every_ms

    def cache_info(self) -> dict[str, int]:
        """Sizes of the in-process state: ``known`` streams (already written once, bounded by
        ``known_max``) and the pending merge (``pending_devices``, ``pending_sensors``)."""
        return {"known": len(self._known), "known_max": _KNOWN_MAX,
                "pending_devices": len(self._devices), "pending_sensors": len(self._sensors)}

    def list(self, device: str | None = None) -> list[DeviceInfo]:
        """All devices (or one) with their sensors, ordered by name."""
        self.flush()
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
