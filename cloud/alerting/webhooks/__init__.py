"""Signed webhooks (Standard Webhooks) with a durable outbox and a retrying delivery worker."""

from cloud.alerting.webhooks.endpoints import EVENT_TYPES, EndpointStore, WebhookIn
from cloud.alerting.webhooks.outbox import Outbox, Outcome
from cloud.alerting.webhooks.signing import headers, new_secret, sign, verify
from cloud.alerting.webhooks.ssrf import check_url
from cloud.alerting.webhooks.worker import DeliveryWorker

__all__ = [
    "EVENT_TYPES",
    "DeliveryWorker",
    "EndpointStore",
    "Outbox",
    "Outcome",
    "WebhookIn",
    "check_url",
    "headers",
    "new_secret",
    "sign",
    "verify",
]
