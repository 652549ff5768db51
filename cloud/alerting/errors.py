"""Errors of the alerting side of the cloud (rules, alerts, webhooks, monitors).

- :class:`AlertingError`: the root; nothing here raises a bare ``Exception``.
  - :class:`InvalidRule`: a rule specification that cannot be evaluated (bad levels, template).
  - :class:`NotFound`: a rule, alert, silence, endpoint or delivery id that does not exist.
  - :class:`UnsafeTarget`: a webhook URL that resolves to a loopback or private address while
    the configuration does not allow those (server-side request forgery guard).
  - :class:`InvalidSignature`: a webhook delivery whose signature or timestamp does not verify.
"""

from __future__ import annotations


class AlertingError(Exception):
    """Root of the alerting errors."""


class InvalidRule(AlertingError):
    """A rule specification that cannot be evaluated."""


class NotFound(AlertingError):
    """An id that does not exist."""


class UnsafeTarget(AlertingError):
    """A webhook target on a network the configuration does not allow."""


class InvalidSignature(AlertingError):
    """A webhook delivery that does not verify (signature, timestamp or replay)."""
