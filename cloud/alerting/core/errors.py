"""Errors of the alerting side of the cloud (rules, alerts, webhooks, monitors).

They sit under the cloud's one exception root, :class:`cloud.errors.CloudError`, and the app
maps them to HTTP answers once (``cloud.app``):

- :class:`AlertingError` (a :class:`~cloud.errors.CloudError`): nothing here raises a bare
  ``Exception``.
  - :class:`InvalidRule`: a rule specification that cannot be evaluated (HTTP 422).
  - :class:`InvalidRequest`: a request the stores refuse as given, e.g. a silence that
    already ended (HTTP 422; also a ``ValueError``).
  - :class:`NotFound`: a rule, alert, silence, endpoint or delivery id that does not exist
    (HTTP 404).
  - :class:`UnsafeTarget`: a webhook URL that resolves to a loopback or private address while
    the configuration does not allow those (server-side request forgery guard; HTTP 422).
  - :class:`InvalidSignature`: a webhook delivery whose signature or timestamp does not verify.
"""

from __future__ import annotations

from cloud.errors import CloudError


class AlertingError(CloudError):
    """Root of the alerting errors."""


class InvalidRule(AlertingError):
    """A rule specification that cannot be evaluated."""


class InvalidRequest(AlertingError, ValueError):
    """A request the alerting stores refuse as given; the message says why."""


class NotFound(AlertingError):
    """An id that does not exist."""


class UnsafeTarget(AlertingError):
    """A webhook target on a network the configuration does not allow."""


class InvalidSignature(AlertingError):
    """A webhook delivery that does not verify (signature, timestamp or replay)."""
