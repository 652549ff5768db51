"""``/v1/devices``: the device registry (sensors, last seen, seconds since)."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path

from cloud.api.auth import AuthFirstRoute, RequireScope
from cloud.api.deps import DevicesDep
from cloud.meta import DeviceInfo, Scope
from cloud.models import DeviceOut, SensorOut
from cloud.validation import NameText

router = APIRouter(tags=["devices"], dependencies=[RequireScope(Scope.READ)],
                   route_class=AuthFirstRoute)


def _out(d: DeviceInfo, now_ms: int) -> DeviceOut:
    return DeviceOut(
        device=d.device, site=d.site, gateway_id=d.gateway_id,
        sensors=[SensorOut.model_validate(s) for s in d.sensors],
        first_seen=d.first_seen_ms, last_seen=d.last_ts_ms, last_ingest=d.last_ingest_ms,
        seconds_since=round((now_ms - d.last_ts_ms) / 1000, 3),
    )


@router.get("/v1/devices", response_model=list[DeviceOut])
def list_devices(devices: DevicesDep) -> list[DeviceOut]:
    """Every device the cloud has stored data for, with its sensors and when it was last seen."""
    now = int(time.time() * 1000)
    return [_out(d, now) for d in devices.list()]


@router.get("/v1/devices/{device:path}", response_model=DeviceOut,
            responses={404: {"description": "No data was ever stored for this device."}})
def get_device(device: Annotated[NameText, Path()], devices: DevicesDep) -> DeviceOut:
    """One device."""
    found = devices.list(device)
    if not found:
        raise HTTPException(404, f"no device {device!r}")
    return _out(found[0], int(time.time() * 1000))
