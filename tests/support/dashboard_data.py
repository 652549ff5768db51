"""A small demo-like fleet put into a running cloud through its public API only (rules,
webhooks, ``POST /v1/ingest``): what the browser tests, the screenshots and the dashboard
benchmark look at.

Two sites and gateways, six devices with temperature, vibration and pressure every minute for
the last 24 hours; one device silent for three hours (stale); a pump whose vibration climbs
toward the bearing-wear limit (a forecast rule projects the crossing); anomaly spikes at known
timestamps; threshold rules that fire; a webhook endpoint nobody listens on (failed deliveries).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

MINUTE_MS = 60_000
HOURS = 24
SENSORS = {"temperature": "°C", "vibration": "mm/s", "pressure": "bar"}
#: device -> (site, gateway)
DEVICES = {
    "pump-01": ("plant-a", "gw-a"), "pump-02": ("plant-a", "gw-a"),
    "compressor-01": ("plant-a", "gw-a"), "fan-01": ("plant-b", "gw-b"),
    "fan-02": ("plant-b", "gw-b"), "conveyor-09": ("plant-b", "gw-b"),
}
STALE = "conveyor-09"
RULES: list[dict[str, Any]] = [
    {"name": "overheat", "kind": "threshold", "scope": {"sensor": "temperature"}, "op": "above",
     "limit": 80.0, "clear": 75.0, "severity": "critical"},
    {"name": "low pressure", "kind": "threshold",
     "scope": {"device": "fan-*", "sensor": "pressure"}, "op": "below", "limit": 1.0,
     "clear": 1.2, "severity": "warning"},
    {"name": "bearing wear", "kind": "forecast", "scope": {"sensor": "vibration"}, "limit": 7.1,
     "lookback_s": HOURS * 3600.0, "horizon_s": 3 * 86400.0, "min_points": 10,
     "severity": "warning", "message": "{sensor} reaches {limit:.1f} {unit} in ~{eta_h:.0f} h"},
    {"name": "stale device", "kind": "pipeline", "check": "stale", "severity": "warning"},
]


@dataclass
class DemoFleet:
    """What was put in: the anomalies' timestamps per (device, sensor), the rules' ids."""

    now_ms: int
    anomalies: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    rules: dict[str, str] = field(default_factory=dict)
    readings: int = 0


def _value(device: str, sensor: str, k: int, n: int) -> float:
    phase = (sum(map(ord, device)) % 17) / 3
    wave = math.sin(k / 25 + phase)
    if sensor == "temperature":
        base = 62 + 4 * wave
        if device == "pump-02" and k > n - 20:
            base = 86 + wave  # overheating at the end: the overheat rule fires
        return round(base, 2)
    if sensor == "vibration":
        drift = 2.5 * k / n if device == "pump-01" else 0.0  # bearing wear on pump-01
        return round(2.2 + drift + 0.15 * wave, 3)
    if device == "fan-02" and k > n - 15:
        return round(0.8 + 0.02 * wave, 3)  # pressure drop: the low-pressure rule fires
    return round(1.6 + 0.1 * wave, 3)


def _spikes(n: int) -> dict[tuple[str, str], list[int]]:
    """Bucket indices of injected anomalies (also spiked in the readings)."""
    return {("pump-01", "temperature"): [n // 4, n // 2, n - 40],
            ("fan-01", "vibration"): [n // 3]}


def _readings(now_ms: int, fleet: DemoFleet) -> Iterator[tuple[str, dict[str, Any], dict | None]]:
    n = HOURS * 60
    start = now_ms - now_ms % MINUTE_MS - n * MINUTE_MS
    spikes = _spikes(n)
    for device, (site, gateway) in DEVICES.items():
        last = n - 180 if device == STALE else n  # the stale device stopped 3 h ago
        for k in range(last):
            ts = start + k * MINUTE_MS
            for seq_off, (sensor, unit) in enumerate(SENSORS.items()):
                value = _value(device, sensor, k, n)
                anomaly = None
                if k in spikes.get((device, sensor), []):
                    value = round(value * 1.6, 3)
                    anomaly = {"device": device, "sensor": sensor, "ts": ts, "value": value,
                               "score": 0.97, "detector": "hst", "site": site,
                               "expected_low": value / 1.8, "expected_high": value / 1.4}
                    fleet.anomalies.setdefault((device, sensor), []).append(ts)
                yield gateway, {"device": device, "sensor": sensor, "ts": ts, "value": value,
                                "seq": k * 3 + seq_off, "unit": unit, "site": site}, anomaly


def populate(base_url: str, tokens: dict[str, str], now_ms: int, admin: str,
             webhook_url: str | None = None) -> DemoFleet:
    """Create the rules (and a webhook endpoint) with the ``admin`` token, then ingest the
    fleet's readings per gateway with its ingest token in ``tokens``."""
    fleet = DemoFleet(now_ms=now_ms)
    with httpx.Client(base_url=base_url, timeout=30,
                      headers={"Authorization": f"Bearer {admin}"}) as c:
        for rule in RULES:
            r = c.post("/v1/rules", json=rule)
            r.raise_for_status()
            fleet.rules[rule["name"]] = r.json()["id"]
        if webhook_url:
            c.post("/v1/webhooks", json={"url": webhook_url, "events": ["alert.*"],
                                         "description": "nobody listens"}).raise_for_status()
        batches: dict[str, tuple[list[dict], list[dict]]] = {}
        for gateway, reading, anomaly in _readings(now_ms, fleet):
            readings, anomalies = batches.setdefault(gateway, ([], []))
            readings.append(reading)
            if anomaly:
                anomalies.append(anomaly)
        for gateway, (readings, anomalies) in batches.items():
            for i in range(0, len(readings), 5000):
                chunk = readings[i:i + 5000]
                body = {"gateway_id": gateway, "batch_id": f"{gateway}-{i}", "readings": chunk,
                        "anomalies": anomalies if i == 0 else []}
                r = c.post("/v1/ingest", json=body, headers={
                    "Authorization": f"Bearer {tokens[gateway]}",
                    "Idempotency-Key": f"demo-{gateway}-{now_ms}-{i}"})
                r.raise_for_status()
                fleet.readings += len(chunk)
    return fleet
