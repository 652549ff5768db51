"""The HTTP API: one router per resource."""

from cloud.api import devices, fleet, health, ingest, series

ROUTERS = (health.router, ingest.router, devices.router, series.router, fleet.router)

__all__ = ["ROUTERS"]
