"""Device ownership: a device belongs to the gateway that first wrote it, or to an admin's binding.

Ingest asks :meth:`DeviceOwnership.keep_owned` which entries of a batch the sending gateway may
write; an entry for a device another gateway owns becomes a rejection ``device_not_owned``
(dead-lettered and counted by ingest like any rejection), never a failed batch. A device
nobody owns yet is claimed by the first gateway to write it (``INSERT ... ON CONFLICT DO
NOTHING``, then read back, so two replicas racing agree on one owner).

Owners are cached in the process for ``cache_s`` (bounded to ``cache_max`` devices): a binding
made through another process (another worker or replica, the CLI) takes effect within
``cache_s``; one made through this process at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import BigInteger, Column, String, Table, delete, select

from cloud.meta.db import MetaDB, metadata, now_ms

R = TypeVar("R")
REASON = "device_not_owned"

device_owners = Table(
    "device_owners",
    metadata,
    Column("device", String(256), primary_key=True),
    Column("gateway_id", String(128), nullable=False, index=True),
    Column("source", String(16), nullable=False),  # "first_write" or "binding"
    Column("since_ms", BigInteger, nullable=False),
)


@dataclass(frozen=True, slots=True)
class Owner:
    device: str
    gateway_id: str
    source: str  #: ``first_write`` or ``binding``
    since_ms: int


class DeviceOwnership:
    """Who may write each device; claims, bindings and the per-batch check."""

    def __init__(self, db: MetaDB, cache_s: float = 30.0, cache_max: int = 100_000) -> None:
        self.db = db
        self.cache_s = cache_s
        self.cache_max = cache_max
        self._cache: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def owners(self, gateway_id: str, devices: Iterable[str]) -> dict[str, str]:
        """The owner of each device, claiming the unowned ones for ``gateway_id``."""
        wanted = set(devices)
        now = time.monotonic()
        out: dict[str, str] = {}
        with self._lock:
            for d in wanted:
                hit = self._cache.get(d)
                if hit is not None and now - hit[1] < self.cache_s:
                    out[d] = hit[0]
        missing = sorted(wanted - out.keys())
        if missing:
            found = self._claim(gateway_id, missing)
            with self._lock:
                if len(self._cache) + len(found) > self.cache_max:
                    self._cache.clear()
                for d, owner in found.items():
                    self._cache[d] = (owner, now)
            out.update(found)
        return out

    def _claim(self, gateway_id: str, devices: Sequence[str]) -> dict[str, str]:
        stamp = now_ms()
        insert = self.db.insert(device_owners).on_conflict_do_nothing(index_elements=["device"])
        with self.db.engine.begin() as conn:
            conn.execute(insert, [{"device": d, "gateway_id": gateway_id,
                                   "source": "first_write", "since_ms": stamp}
                                  for d in devices])
            rows = conn.execute(select(device_owners.c.device, device_owners.c.gateway_id)
                                .where(device_owners.c.device.in_(devices))).all()
        return {r.device: r.gateway_id for r in rows}

    def keep_owned(self, gateway_id: str, index: list[int], entries: list[Any], bad: list[R],
                   reject: Callable[[int, str, str], R]) -> tuple[list[int], list[Any], list[R]]:
        """Split valid entries (with their batch indexes) into those ``gateway_id`` may write
        and rejections ``reject(index, "device_not_owned", reason)`` appended to ``bad``."""
        if not entries:
            return index, entries, bad
        owner = self.owners(gateway_id, {e["device"] for e in entries})
        keep_index: list[int] = []
        keep: list[Any] = []
        for i, e in zip(index, entries, strict=True):
            if owner.get(e["device"], gateway_id) == gateway_id:
                keep_index.append(i)
                keep.append(e)
            else:
                bad.append(reject(i, REASON, f"device {e['device']!r} belongs to another "
                                                "gateway; an admin can move it "
                                                "(`iotgw cloud device bind`)"))
        return keep_index, keep, bad

    def get(self, device: str) -> Owner | None:
        with self.db.engine.connect() as conn:
            row = conn.execute(select(device_owners)
                               .where(device_owners.c.device == device)).first()
        return None if row is None else Owner(row.device, row.gateway_id, row.source,
                                              row.since_ms)

    def bind(self, device: str, gateway_id: str) -> Owner:
        """Give ``device`` to ``gateway_id`` (an admin's explicit move)."""
        owner = Owner(device, gateway_id, "binding", now_ms())
        upsert = self.db.insert(device_owners)
        upsert = upsert.on_conflict_do_update(index_elements=["device"], set_={
            "gateway_id": upsert.excluded.gateway_id, "source": upsert.excluded.source,
            "since_ms": upsert.excluded.since_ms})
        with self.db.engine.begin() as conn:
            conn.execute(upsert, {"device": device, "gateway_id": gateway_id,
                                  "source": owner.source, "since_ms": owner.since_ms})
        self._forget(device)
        return owner

    def unbind(self, device: str) -> bool:
        """Forget ``device``'s owner (the next gateway to write it claims it); False when it
        had none."""
        with self.db.engine.begin() as conn:
            res = conn.execute(delete(device_owners).where(device_owners.c.device == device))
        self._forget(device)
        return bool(res.rowcount)

    def _forget(self, device: str) -> None:
        with self._lock:
            self._cache.pop(device, None)
