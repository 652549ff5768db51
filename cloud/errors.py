"""Errors raised by the cloud service.

Hierarchy::

    CloudError
    ├── StoreError           the time-series store failed
    │   └── StoreUnavailable the store cannot be reached or is overloaded: retry later (503)
    ├── MetadataError        the metadata database failed (tokens, idempotency, devices)
    ├── QueryError           a query's parameters are invalid (HTTP 400)
    ├── IdempotencyError     an Idempotency-Key cannot be used as asked
    │   ├── KeyInFlight      a request with this key is still being processed (HTTP 409)
    │   └── KeyReused        this key was used with a different body (HTTP 422)
    ├── RequestRejected      a request refused as a whole (its own status)
    └── AlertingError        rules, alerts, webhooks, monitors (cloud.alerting.core.errors):
        ├── InvalidRule      a rule that cannot be evaluated (HTTP 422)
        ├── InvalidRequest   a request the alerting stores refuse (HTTP 422)
        ├── NotFound         an unknown rule, alert, silence, endpoint or delivery (HTTP 404)
        ├── UnsafeTarget     a webhook URL on a network not allowed (HTTP 422)
        └── InvalidSignature a webhook delivery that does not verify

A bad setting is :class:`common.settings.ConfigError`, the one configuration error of every
deployable (one message format, one exit code).

Rejections of single readings are not exceptions: they travel as :class:`cloud.store.Rejection`
values, so one bad reading never takes the rest of a batch with it.
"""

from __future__ import annotations


class CloudError(Exception):
    """Base of every error raised by ``cloud``."""


class StoreError(CloudError):
    """The time-series store failed."""


class StoreUnavailable(StoreError):
    """The store cannot take writes or answer queries now; the caller should retry later."""


class MetadataError(CloudError):
    """The metadata database failed."""


class QueryError(CloudError, ValueError):
    """A query parameter is invalid; the message says which and why."""


class IdempotencyError(CloudError):
    """An Idempotency-Key cannot be used as asked."""


class KeyInFlight(IdempotencyError):
    """A request with the same key is still being processed."""


class KeyReused(IdempotencyError):
    """The key was already used with a different request body."""


class RequestRejected(CloudError):
    """A request the API refuses as a whole; ``status`` is its HTTP status code."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
