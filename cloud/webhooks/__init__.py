"""Signed webhooks (Standard Webhooks) with a durable outbox and a retrying delivery worker."""

from cloud.webhooks.endpoints import EVENT_TYPES, EndpointStore, WebhookIn
from cloud.webhooks.outbox import Outbox, Outcome
from cloud.webhooks.signing import headers, new_secret, sign, verify
from cloud.webhooks.ssrf import check_url
from cloud.webhooks.worker import DeliveryWorker

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
