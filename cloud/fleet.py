"""Fleet figures no other route serves: per device, open alerts and anomalies of the last
24 h beside freshness; per gateway, the ingest rate of the last complete volume bucket.

Read-only assembly over the existing services (device registry, anomaly queries, alerts,
pipeline health); the routes are in :mod:`cloud.api.fleet`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from cloud.meta import DeviceInfo

#: How far back the fleet view counts anomalies.
ANOMALY_WINDOW_MS = 86_400_000


class _Devices(Protocol):
    def list(self, device: str | None = None) -> list[DeviceInfo]: ...


class _Anomalies(Protocol):
    limits: Any

    def anomalies(self, device: str | None, sensor: str | None, start: str | None,
                  end: str | None, limit: int | None) -> list[dict[str, Any]]: ...


class _Alerts(Protocol):
    def find(self, state: str | None = None, severity: str | None = None,
             device: str | None = None, limit: int = 500) -> list[dict[str, Any]]: ...


class _Health(Protocol):
    def report(self) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class DeviceSummary:
    device: str
    site: str | None
    gateway_id: str | None
    sensors: list[str]
    last_seen: int
    last_ingest: int
    seconds_since: float
    stale: bool
    open_alerts: int
    firing_alerts: int
    anomalies_24h: int


@dataclass(frozen=True, slots=True)
class GatewayRate:
    gateway_id: str
    devices: int
    bucket_ms: int | None
    bucket_s: float
    readings: int
    readings_per_s: float
    last_ingest: int


class FleetView:
    """Builds the fleet summary and the per-gateway ingest rates from narrow services."""

    def __init__(self, devices: _Devices, queries: _Anomalies, alerts: _Alerts,
                 health: _Health, stale_after_s: float,
                 now_ms: Callable[[], int]) -> None:
        self._devices = devices
        self._queries = queries
        self._alerts = alerts
        self._health = health
        self._stale_ms = stale_after_s * 1000
        self._now_ms = now_ms

    def devices(self) -> tuple[list[DeviceSummary], bool]:
        """Every device (sorted by name) and whether the anomaly count hit the query cap."""
        now = self._now_ms()
        cap = int(self._queries.limits.max_anomalies_per_query)
        rows = self._queries.anomalies(None, None, str(now - ANOMALY_WINDOW_MS), str(now), cap)
        anomalies = Counter(a["device"] for a in rows)
        open_by, firing_by = Counter[str](), Counter[str]()
        for state in ("pending", "firing"):
            for alert in self._alerts.find(state, None, None, 5000):
                open_by[alert["device"]] += 1
                if state == "firing":
                    firing_by[alert["device"]] += 1
        out = [DeviceSummary(
            device=d.device, site=d.site, gateway_id=d.gateway_id,
            sensors=sorted(str(s["sensor"]) for s in d.sensors), last_seen=d.last_ts_ms,
            last_ingest=d.last_ingest_ms, seconds_since=round((now - d.last_ts_ms) / 1000, 3),
            stale=now - d.last_ts_ms > self._stale_ms, open_alerts=open_by[d.device],
            firing_alerts=firing_by[d.device], anomalies_24h=anomalies[d.device],
        ) for d in self._devices.list()]
        return sorted(out, key=lambda s: s.device), len(rows) >= cap

    def gateways(self) -> list[GatewayRate]:
        """Readings per second per gateway over the last complete volume bucket."""
        volume = self._health.report().get("volume", {})
        bucket_s = float(volume.get("bucket_s") or 60.0)
        per_device = {v["device"]: v for v in volume.get("devices", [])}
        groups: dict[str, list[DeviceInfo]] = {}
        for d in self._devices.list():
            groups.setdefault(d.gateway_id or "(unknown)", []).append(d)
        out = []
        for gw, members in sorted(groups.items()):
            entries = [per_device[d.device] for d in members if d.device in per_device]
            readings = sum(int(e["readings"]) for e in entries)
            bucket = max((int(e["bucket_ms"]) for e in entries), default=None)
            out.append(GatewayRate(
                gateway_id=gw, devices=len(members), bucket_ms=bucket, bucket_s=bucket_s,
                readings=readings, readings_per_s=round(readings / bucket_s, 3),
                last_ingest=max(d.last_ingest_ms for d in members)))
        return out
