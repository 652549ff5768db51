"""``/v1/devices/{device}/owner``: an admin moves a device to a gateway, or frees it.

A device belongs to the gateway that first wrote it; readings for it from any other gateway
are rejected per reading (``device_not_owned``). ``PUT`` binds the device to a gateway (the
explicit move), ``DELETE`` forgets its owner so the next gateway to write it claims it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Response
from pydantic import BaseModel

from cloud.api.auth import AuthFirstRoute, RequireScope
from cloud.api.deps import OwnershipDep
from cloud.meta import Scope
from cloud.validation import REQUEST_CONFIG, NameText
from ingest_protocol.model import GatewayId

router = APIRouter(tags=["devices"], dependencies=[RequireScope(Scope.ADMIN)],
                   route_class=AuthFirstRoute)
DeviceName = Annotated[NameText, Path()]


class OwnerIn(BaseModel):
    """The gateway that may write the device from now on."""

    model_config = REQUEST_CONFIG
    gateway_id: GatewayId


class OwnerOut(BaseModel):
    """Who may write a device, since when, and whether by first write or an admin binding."""

    device: str
    gateway_id: str
    source: str
    since_ms: int


@router.put("/v1/devices/{device:path}/owner", response_model=OwnerOut)
def bind_owner(device: DeviceName, body: OwnerIn, owners: OwnershipDep) -> OwnerOut:
    """Bind the device to a gateway: only that gateway's readings of it are stored."""
    o = owners.bind(device, body.gateway_id)
    return OwnerOut(device=o.device, gateway_id=o.gateway_id, source=o.source,
                    since_ms=o.since_ms)


@router.delete("/v1/devices/{device:path}/owner", status_code=204, response_class=Response,
               responses={404: {"description": "The device has no owner."}})
def unbind_owner(device: DeviceName, owners: OwnershipDep) -> None:
    """Forget the device's owner; the next gateway to write it becomes its owner."""
    if not owners.unbind(device):
        raise HTTPException(404, f"device {device!r} has no owner")
