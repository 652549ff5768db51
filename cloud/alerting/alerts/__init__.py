"""Alerts: the lifecycle (pending -> firing -> resolved, dedup per rule and series), ack, and
silences that suppress notifications while keeping the record."""

from cloud.alerting.alerts.lifecycle import OPEN_STATES, AlertManager, Notifier, open_key
from cloud.alerting.alerts.silences import Matcher, SilenceIn, SilenceStore

__all__ = [
    "OPEN_STATES",
    "AlertManager",
    "Matcher",
    "Notifier",
    "SilenceIn",
    "SilenceStore",
    "open_key",
]
