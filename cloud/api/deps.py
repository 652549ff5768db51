"""``Annotated`` dependencies: handlers receive narrow services, never the app object."""

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


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_ingest(s: ServicesDep) -> IngestService:
    return s.ingest


def get_queries(s: ServicesDep) -> QueryService:
    return s.queries


def get_devices(s: ServicesDep) -> DeviceRegistry:
    return s.devices


def get_ownership(s: ServicesDep) -> DeviceOwnership:
    return s.ownership


def get_store(s: ServicesDep) -> TimeSeriesStore:
    return s.store


def get_metrics(s: ServicesDep) -> CloudMetrics:
    return s.metrics


def get_limits(s: ServicesDep) -> LimitsSettings:
    return s.settings.limits


def get_rules(s: ServicesDep) -> RuleRepository:
    return s.alerting.rules


def get_alerts(s: ServicesDep) -> AlertManager:
    return s.alerting.alerts


def get_silences(s: ServicesDep) -> SilenceStore:
    return s.alerting.silences


def get_endpoints(s: ServicesDep) -> EndpointStore:
    return s.alerting.endpoints


def get_outbox(s: ServicesDep) -> Outbox:
    return s.alerting.outbox


def get_pipeline_health(s: ServicesDep) -> PipelineHealth:
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
