"""The HTTP API: one router per resource."""

from cloud.api import devices, health, ingest, series

ROUTERS = (health.router, ingest.router, devices.router, series.router)

__all__ = ["ROUTERS"]
