"""The HTTP API: one module-level router per resource."""

from cloud.api import (
    alerts,
    devices,
    fleet,
    health,
    ingest,
    owners,
    pipeline,
    rules,
    series,
    silences,
    webhooks,
)

ROUTERS = (health.router, ingest.router, owners.router, devices.router, series.router,
           rules.router, alerts.router, silences.router, webhooks.router, pipeline.router,
           fleet.router)

__all__ = ["ROUTERS"]
