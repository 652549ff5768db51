"""Alerting values read from the metadata database at each scrape: outbox depth, alerts by state.

They are the same whichever worker answers (every worker reads the one database), so they are
computed at scrape time rather than kept per process.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from cloud.alerting.alerts.tables import alerts as t_alerts
from cloud.alerting.core.db import Database
from cloud.alerting.webhooks.tables import webhook_deliveries as t_deliveries
from cloud.metrics import definition

#: Alert states always reported (0 when none), so a series does not vanish when it empties.
ALERT_STATES = ("pending", "firing", "resolved")


class AlertingCollector(Collector):
    """``iotgw_cloud_webhook_outbox_pending`` and ``iotgw_cloud_alerts{state}``."""

    def __init__(self, engine: Database) -> None:
        self._engine = engine

    def collect(self) -> Iterator[Metric]:
        try:
            with self._engine.connect() as conn:
                pending = conn.execute(select(func.count()).select_from(t_deliveries).where(
                    t_deliveries.c.state == "pending")).scalar_one()
                rows = conn.execute(select(t_alerts.c.state, func.count()).group_by(
                    t_alerts.c.state)).all()
            by_state = {str(state): int(n) for state, n in rows}
        except SQLAlchemyError:  # the database is down: /readyz says so; the rest still reports
            return
        d = definition("iotgw_cloud_webhook_outbox_pending")
        yield GaugeMetricFamily(d.name, d.help, value=float(pending))
        d = definition("iotgw_cloud_alerts")
        fam = GaugeMetricFamily(d.name, d.help, labels=list(d.labels))
        for state in sorted(set(ALERT_STATES) | set(by_state)):
            fam.add_metric([state], float(by_state.get(state, 0)))
        yield fam
