"""Composition of the alerting side: rules, alerts, silences, webhooks and pipeline health.

:class:`~cloud.alerting.service.Alerting` builds the services on one SQLAlchemy engine, exposes
the routers and the ingest listener, and starts/stops the background evaluator and the webhook
delivery worker.
"""

from cloud.alerting.clock import Clock, ManualClock, SystemClock
from cloud.alerting.errors import (
    AlertingError,
    InvalidRule,
    InvalidSignature,
    NotFound,
    UnsafeTarget,
)
from cloud.alerting.settings import AlertingSettings, WebhookSettings

__all__ = [
    "AlertingError",
    "AlertingSettings",
    "Clock",
    "InvalidRule",
    "InvalidSignature",
    "ManualClock",
    "NotFound",
    "SystemClock",
    "UnsafeTarget",
    "WebhookSettings",
]
