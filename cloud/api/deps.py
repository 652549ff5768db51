"""``Annotated`` dependencies: handlers receive narrow services, never the app object.

They are ``async def`` because they only read attributes: FastAPI runs a plain ``def``
dependency in its thread pool, a thread hand-off per dependency per request (three on the
ingest route, before the ingest's own).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from cloud.alerting.alerts.lifecycle import AlertManager
from cloud.alerting.alerts.silences import SilenceStore
from cloud.alerting.monitors.health import PipelineHealth
from cloud.alerting.rules.store import RuleRepository
from cloud.alerting.webhooks.endpoints import EndpointStore
from cloud.alerting.webhooks.outbox import Outbox
from cloud.ingest import IngestService
from cloud.meta import DeviceOwnership, DeviceRegistry
from cloud.metrics import CloudMetrics
from cloud.query import QueryService
from cloud.services import Services
from cloud.settings import LimitsSettings
from cloud.store import TimeSeriesStore


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_ingest(s: ServicesDep) -> IngestService:
    return s.ingest


async def get_queries(s: ServicesDep) -> QueryService:
    return s.queries


async def get_devices(s: ServicesDep) -> DeviceRegistry:
    return s.devices


async def get_ownership(s: ServicesDep) -> DeviceOwnership:
    return s.ownership


async def get_store(s: ServicesDep) -> TimeSeriesStore:
    return s.store


async def get_metrics(s: ServicesDep) -> CloudMetrics:
    return s.metrics


async def get_limits(s: ServicesDep) -> LimitsSettings:
    return s.settings.limits


async def get_rules(s: ServicesDep) -> RuleRepository:
    return s.alerting.rules


async def get_alerts(s: ServicesDep) -> AlertManager:
    return s.alerting.alerts


async def get_silences(s: ServicesDep) -> SilenceStore:
    return s.alerting.silences


async def get_endpoints(s: ServicesDep) -> EndpointStore:
    return s.alerting.endpoints


async def get_outbox(s: ServicesDep) -> Outbox:
    return s.alerting.outbox


async def get_pipeline_health(s: ServicesDep) -> PipelineHealth:
    return s.alerting.health


IngestDep = Annotated[IngestService, Depends(get_ingest)]
QueriesDep = Annotated[QueryService, Depends(get_queries)]
DevicesDep = Annotated[DeviceRegistry, Depends(get_devices)]
OwnershipDep = Annotated[DeviceOwnership, Depends(get_ownership)]
StoreDep = Annotated[TimeSeriesStore, Depends(get_store)]
MetricsDep = Annotated[CloudMetrics, Depends(get_metrics)]
LimitsDep = Annotated[LimitsSettings, Depends(get_limits)]
RulesDep = Annotated[RuleRepository, Depends(get_rules)]
AlertsDep = Annotated[AlertManager, Depends(get_alerts)]
SilencesDep = Annotated[SilenceStore, Depends(get_silences)]
EndpointsDep = Annotated[EndpointStore, Depends(get_endpoints)]
OutboxDep = Annotated[Outbox, Depends(get_outbox)]
PipelineHealthDep = Annotated[PipelineHealth, Depends(get_pipeline_health)]
