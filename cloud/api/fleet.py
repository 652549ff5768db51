"""``/v1/fleet`` and ``/v1/pipeline/gateways``: fleet figures the dashboard shows (and anyone
else may read): per device freshness, open alerts and anomalies of the last 24 h; per gateway,
the ingest rate of the last complete volume bucket."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from cloud.api.auth import AuthFirstRoute, RequireScope
from cloud.api.deps import AlertsDep, DevicesDep, PipelineHealthDep, QueriesDep, ServicesDep
from cloud.fleet import ANOMALY_WINDOW_MS, FleetView
from cloud.meta import Scope

router = APIRouter(tags=["fleet"], dependencies=[RequireScope(Scope.READ)],
                   route_class=AuthFirstRoute)


class FleetDeviceOut(BaseModel):
    device: str
    site: str | None
    gateway_id: str | None
    sensors: list[str]
    last_seen: int = Field(description="Newest device timestamp stored, UTC ms.")
    last_ingest: int = Field(description="When the cloud last received data for it, UTC ms.")
    seconds_since: float = Field(description="Seconds from last_seen to now.")
    stale: bool = Field(description="Silent longer than `alerting.stale_after_s`.")
    open_alerts: int = Field(description="Pending and firing alerts.")
    firing_alerts: int
    anomalies_24h: int = Field(description="Edge anomalies with a timestamp in the last 24 h.")


class FleetOut(BaseModel):
    now_ms: int
    stale_after_s: float
    anomaly_window_s: float
    anomalies_capped: bool = Field(
        description="The 24 h anomaly query hit `limits.max_anomalies_per_query`: counts are "
                    "lower bounds.")
    devices: list[FleetDeviceOut]


class GatewayRateOut(BaseModel):
    gateway_id: str
    devices: int = Field(description="Devices last seen through this gateway.")
    bucket_ms: int | None = Field(description="Start of the last complete volume bucket.")
    bucket_s: float
    readings: int = Field(description="Readings of its devices in that bucket.")
    readings_per_s: float
    last_ingest: int = Field(description="Newest ingest of any of its devices, UTC ms.")


def _now_ms() -> int:
    return int(time.time() * 1000)


def get_stale_after_s(s: ServicesDep) -> float:
    return s.settings.alerting.stale_after_s


StaleAfterDep = Annotated[float, Depends(get_stale_after_s)]


def get_fleet(devices: DevicesDep, queries: QueriesDep, alerts: AlertsDep,
              health: PipelineHealthDep, stale_after_s: StaleAfterDep) -> FleetView:
    return FleetView(devices, queries, alerts, health, stale_after_s, _now_ms)


FleetDep = Annotated[FleetView, Depends(get_fleet)]


@router.get("/v1/fleet", response_model=FleetOut)
def fleet(view: FleetDep, stale_after_s: StaleAfterDep) -> FleetOut:
    """Every device with site, gateway, last seen, stale or not, open alerts and the number of
    edge anomalies in the last 24 h, sorted by device."""
    devices, capped = view.devices()
    return FleetOut(
        now_ms=_now_ms(), stale_after_s=stale_after_s,
        anomaly_window_s=ANOMALY_WINDOW_MS / 1000, anomalies_capped=capped,
        devices=[FleetDeviceOut.model_validate(d, from_attributes=True) for d in devices])


@router.get("/v1/pipeline/gateways", response_model=list[GatewayRateOut])
def gateway_rates(view: FleetDep) -> list[GatewayRateOut]:
    """Per gateway: its devices and their readings per second over the last complete volume
    bucket (``alerting.bucket_s``)."""
    return [GatewayRateOut.model_validate(g, from_attributes=True) for g in view.gateways()]
