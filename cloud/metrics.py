"""The cloud's Prometheus metrics (``prometheus_client``), served at ``/metrics``.

:class:`CloudMetrics` holds every metric the services count (the app owns one and hands it to
ingest, queries and alerting). Values read at scrape time (outbox depth, alerts by state) come
from collectors added with :meth:`CloudMetrics.add_collector`.

With several uvicorn workers, ``iotgw cloud run`` points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh
private directory before the workers start: each worker then keeps its counters and histograms
in files there, and whichever worker answers a scrape sums them all
(:class:`~prometheus_client.multiprocess.MultiProcessCollector`), so a counter never goes
backwards between scrapes. The in-flight gauge is summed over live workers (``livesum``);
``process_*`` is reported per worker process with a ``pid`` label
(:class:`WorkerProcessCollector`). In one process, the library's process collector reports it.

Every metric is declared in :data:`DEFINITIONS`, from which ``docs/metrics.md`` is generated.

>>> m = CloudMetrics()
>>> m.ingest_requests.labels(status="200").inc()
>>> m.value("iotgw_cloud_ingest_requests_total", status="200")
1.0
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

from common.metrics import MetricDef, counter, histogram, package_version
from common.metrics import define as _d

#: The environment variable that turns on prometheus_client's multiprocess mode.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
P = "iotgw_cloud_"
#: Every cloud metric (``process_*`` and ``python_info`` come from the library).
DEFINITIONS: tuple[MetricDef, ...] = (
    _d("iotgw_build_info", "gauge", "Always 1; the labels say what is running.",
       "service", "version"),
    _d(P + "ingest_requests_total", "counter",
       "Ingest requests by status (HTTP status, replay or error).", "status"),
    _d(P + "ingest_readings_total", "counter", "Readings stored by ingest."),
    _d(P + "ingest_rejected_total", "counter", "Readings and anomalies rejected, by reason.",
       "kind", "reason"),
    _d(P + "ingest_listener_errors_total", "counter", "Ingest listeners that raised."),
    _d(P + "ingest_in_flight_requests", "gauge",
       "Ingest requests writing to the store now (summed over workers)."),
    _d(P + "store_write_duration_seconds", "histogram", "Latency of store writes."),
    _d(P + "query_duration_seconds", "histogram", "Latency of store queries."),
    _d(P + "rule_evaluation_duration_seconds", "histogram",
       "Time to evaluate the alert rules: per ingested batch (arrival) or per tick (schedule).",
       "mode"),
    _d(P + "rule_evaluation_errors_total", "counter",
       "Rule evaluations and pipeline recordings that raised."),
    _d(P + "webhook_deliveries_total", "counter",
       "Webhook delivery attempts by outcome (delivered, retry, failed).", "outcome"),
    _d(P + "webhook_outbox_pending", "gauge", "Webhook deliveries waiting in the outbox."),
    _d(P + "alerts", "gauge", "Alerts by state (pending, firing, resolved).", "state"),
    _d(P + "downsample_runs_total", "counter",
       "Scheduled downsampling runs by outcome (ok, failed).", "outcome"),
    _d(P + "downsample_points_total", "counter", "Aggregate points downsampling wrote."),
)
_BY_NAME = {d.name: d for d in DEFINITIONS}


def definition(name: str) -> MetricDef:
    """The declared definition of ``name`` (for scrape-time collectors)."""
    return _BY_NAME[name]


class BuildInfoCollector(Collector):
    """``iotgw_build_info{service="cloud",version=...} 1``."""

    def collect(self) -> Iterator[Metric]:
        d = _BY_NAME["iotgw_build_info"]
        fam = GaugeMetricFamily(d.name, d.help, labels=list(d.labels))
        fam.add_metric(["cloud", package_version()], 1.0)
        yield fam


_PID_FILE = re.compile(r"_(\d+)\.db$")


class WorkerProcessCollector(Collector):
    """``process_*`` of every worker with files in the multiprocess directory, by ``pid``
    (the library's process collector, run per pid); forgets the live gauges of dead ones."""

    def __init__(self, path: Path) -> None:
        self._path = path

    def _pids(self) -> list[int]:
        found = {int(m.group(1)) for p in self._path.glob("*.db")
                 if (m := _PID_FILE.search(p.name))}
        return sorted(found)

    def collect(self) -> Iterator[Metric]:
        merged: dict[str, Metric] = {}
        for pid in self._pids():
            if not Path(f"/proc/{pid}").exists():
                mark_process_dead(pid, str(self._path))
                continue
            for fam in ProcessCollector(pid=_pid_of(pid), registry=None).collect():
                out = merged.setdefault(fam.name, Metric(fam.name, fam.documentation, fam.type))
                out.samples += [s._replace(labels={**s.labels, "pid": str(pid)})
                                for s in fam.samples]
        yield from merged.values()


def _pid_of(pid: int) -> Callable[[], int]:
    return lambda: pid


class CloudMetrics:
    """The cloud's metrics; ``render()`` is the ``/metrics`` body."""

    def __init__(self) -> None:
        mp = os.environ.get(MULTIPROC_ENV)
        self.multiprocess_dir = Path(mp) if mp else None
        self.registry = CollectorRegistry()
        self._scrape: list[Collector] = [BuildInfoCollector()]
        self.ingest_requests = self._counter("ingest_requests_total")
        self.ingest_readings = self._counter("ingest_readings_total")
        self.ingest_rejected = self._counter("ingest_rejected_total")
        self.ingest_listener_errors = self._counter("ingest_listener_errors_total")
        d = _BY_NAME[P + "ingest_in_flight_requests"]
        self.ingest_in_flight = Gauge(d.name, d.help, registry=self.registry,
                                      multiprocess_mode="livesum")
        self.store_write_duration = self._histogram("store_write_duration_seconds")
        self.query_duration = self._histogram("query_duration_seconds")
        self.rule_evaluation_duration = self._histogram("rule_evaluation_duration_seconds")
        self.rule_evaluation_errors = self._counter("rule_evaluation_errors_total")
        self.webhook_deliveries = self._counter("webhook_deliveries_total")
        self.downsample_runs = self._counter("downsample_runs_total")
        self.downsample_points = self._counter("downsample_points_total")

    def _counter(self, name: str) -> Counter:
        return counter(_BY_NAME[P + name], self.registry)

    def _histogram(self, name: str) -> Histogram:
        return histogram(_BY_NAME[P + name], self.registry)

    def add_collector(self, collector: Collector) -> None:
        """Run ``collector`` at every scrape (values read from the database at that time)."""
        self._scrape.append(collector)

    def render(self) -> bytes:
        """The ``/metrics`` body (Prometheus text format 0.0.4), all workers included."""
        registry = CollectorRegistry()
        if self.multiprocess_dir is not None:
            MultiProcessCollector(registry, str(self.multiprocess_dir))
            registry.register(WorkerProcessCollector(self.multiprocess_dir))
        else:
            registry.register(_Delegate(self.registry))
            ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        for collector in self._scrape:
            registry.register(collector)
        return generate_latest(registry)

    def value(self, name: str, **labels: str) -> float:
        """One sample's current value in this process (0 when absent), for tests."""
        return self.registry.get_sample_value(name, labels or None) or 0.0


class _Delegate(Collector):
    """The metrics of another registry, inside the scrape registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def collect(self) -> Iterator[Metric]:
        yield from self._registry.collect()
