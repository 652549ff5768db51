"""The gateway's Prometheus metrics, on a registry of its own (``prometheus_client``).

One :class:`GatewayMetrics` is created per service and injected into the parts that count;
its :meth:`~GatewayMetrics.render` is the ``/metrics`` body. Counters end in ``_total``,
latencies are histograms in seconds, sizes are bytes. Values read from elsewhere at scrape
time (buffer statistics, connection state) come from a :class:`ScrapeSource` through
:class:`ScrapeCollector`; the process collector adds ``process_*``, and
``iotgw_build_info{service="gateway",version=...}`` is always 1.

Every metric is declared in :data:`DEFINITIONS` (name, type, labels, help), from which the
reference table in ``docs/metrics.md`` is generated.

>>> m = GatewayMetrics()
>>> m.dead_letters.labels(reason="bad_field").inc()
>>> m.value("iotgw_gateway_dead_letters_total", reason="bad_field")
1.0
>>> 'iotgw_gateway_dead_letters_total{reason="bad_field"} 1.0' in m.render().decode()
True
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from common.metrics import MetricDef, counter, histogram, package_version
from common.metrics import define as _d

P = "iotgw_gateway_"
#: Every gateway metric (``process_*`` and ``python_info`` come from the library).
DEFINITIONS: tuple[MetricDef, ...] = (
    _d("iotgw_build_info", "gauge", "Always 1; the labels say what is running.",
       "service", "version"),
    _d(P + "messages_received_total", "counter",
       "MQTT messages received and appended to the intake log."),
    _d(P + "messages_total", "counter",
       "MQTT messages by outcome (buffered, duplicate, dead_lettered).", "outcome"),
    _d(P + "messages_decoded_total", "counter",
       "Payloads decoded and validated (new or duplicate)."),
    _d(P + "readings_buffered_total", "counter", "Readings committed to the buffer."),
    _d(P + "anomalies_total", "counter", "Anomaly events raised by the detectors."),
    _d(P + "scorer_errors_total", "counter", "Exceptions raised by the anomaly scorer."),
    _d(P + "dead_letters_total", "counter", "Payloads and rows dead-lettered, by reason.",
       "reason"),
    _d(P + "dead_letters_evicted_total", "counter",
       "Dead letters evicted (oldest first) to keep the store within its bound."),
    _d(P + "commit_duration_seconds", "histogram", "Latency of a group commit to the intake log."),
    _d(P + "commit_failures_total", "counter", "Failed group commits to the intake log."),
    _d(P + "acks_skipped_total", "counter",
       "Committed messages not acknowledged (connection lost): the broker delivers them again."),
    _d(P + "backpressure_waits_total", "counter",
       "Intake loop turns without committing because the buffer is full."),
    _d(P + "broker_connect_failures_total", "counter", "Failed broker connection attempts."),
    _d(P + "decode_worker_failures_total", "counter", "Decode worker process deaths."),
    _d(P + "score_worker_failures_total", "counter",
       "Score worker process deaths (scoring goes on inline)."),
    _d(P + "local_publish_failures_total", "counter",
       "Local notifications not published (broker disconnected)."),
    _d(P + "uplink_batches_total", "counter", "Uplink requests by outcome (ok, failed, rejected).",
       "outcome"),
    _d(P + "uplink_retries_total", "counter", "Uplink retries scheduled."),
    _d(P + "uplink_resent_batches_total", "counter",
       "Batches sent again exactly as first sent, after a crash or a failed request hid "
       "their answer."),
    _d(P + "uplink_request_duration_seconds", "histogram",
       "Latency of uplink requests the cloud accepted."),
    _d(P + "uplink_readings_total", "counter", "Readings delivered to the cloud."),
    _d(P + "uplink_anomalies_total", "counter", "Anomaly events delivered to the cloud."),
    _d(P + "uplink_cloud_rejected_total", "counter",
       "Readings the cloud accepted into its own dead-letter table."),
    _d(P + "uplink_auth_failures_total", "counter",
       "Uplink requests the cloud refused for the token (401 or 403)."),
    _d(P + "uplink_auth_ok", "gauge",
       "0 while the cloud refuses the uplink token (last answer 401 or 403), else 1."),
    _d(P + "uplink_breaker_state", "gauge",
       "Uplink circuit breaker: 0 closed, 1 open, 2 half-open."),
    _d(P + "broker_connected", "gauge", "1 while connected to the MQTT broker."),
    _d(P + "intake_backlog_messages", "gauge",
       "Messages received and not yet appended to the intake log."),
    _d(P + "log_backlog_messages", "gauge",
       "Messages acknowledged (in the intake log) and not yet processed."),
    _d(P + "log_file_bytes", "gauge", "Size of the intake log's database on disk."),
    _d(P + "log_full_waits_total", "counter",
       "Intake loop turns not acknowledging because the intake log's backlog is full."),
    _d(P + "process_duration_seconds", "histogram",
       "Processing time of one batch of intake log entries (decode, buffer, cursor)."),
    _d(P + "process_cpu_seconds_total", "counter",
       "CPU time the processing stage's thread spent on batches of intake log entries."),
    _d(P + "process_failures_total", "counter",
       "Failed processing transactions (retried from the durable cursor)."),
    _d(P + "buffer_rows", "gauge", "Rows waiting in the buffer."),
    _d(P + "buffer_bytes", "gauge", "Bytes the buffered rows account for."),
    _d(P + "buffer_file_bytes", "gauge", "Size of the buffer's database on disk."),
    _d(P + "buffer_oldest_age_seconds", "gauge", "Age of the oldest unsent row (0 when empty)."),
    _d(P + "dropped_readings_total", "counter",
       "Readings dropped from the buffer, by reason (overflow, expired); survives restarts.",
       "reason"),
    _d(P + "dropped_anomalies_total", "counter",
       "Anomaly events dropped from the buffer, by reason (overflow, expired).", "reason"),
)
_BY_NAME = {d.name: d for d in DEFINITIONS}


@dataclass(frozen=True, slots=True)
class ScrapeValues:
    """What the service reports at scrape time (read from the buffer and the parts)."""

    buffer_rows: int
    buffer_bytes: int
    buffer_file_bytes: int
    buffer_oldest_age_s: float
    dropped_readings: dict[str, int]
    dropped_anomalies: dict[str, int]
    breaker_state: int
    broker_connected: bool
    intake_backlog: int
    log_backlog: int
    log_file_bytes: int


class ScrapeSource(Protocol):
    """Anything that can tell the scrape-time values (the gateway service)."""

    def scrape_values(self) -> ScrapeValues: ...


class ScrapeCollector(Collector):
    """Gauges and persisted drop counters read from a :class:`ScrapeSource` at each scrape."""

    def __init__(self, source: ScrapeSource) -> None:
        self._source = source

    def collect(self) -> Iterator[Metric]:
        v = self._source.scrape_values()
        for name, value in (
            ("buffer_rows", v.buffer_rows), ("buffer_bytes", v.buffer_bytes),
            ("buffer_file_bytes", v.buffer_file_bytes),
            ("buffer_oldest_age_seconds", v.buffer_oldest_age_s),
            ("uplink_breaker_state", v.breaker_state),
            ("broker_connected", int(v.broker_connected)),
            ("intake_backlog_messages", v.intake_backlog),
            ("log_backlog_messages", v.log_backlog),
            ("log_file_bytes", v.log_file_bytes),
        ):
            yield GaugeMetricFamily(P + name, _BY_NAME[P + name].help, value=float(value))
        for name, by_reason in (("dropped_readings", v.dropped_readings),
                                ("dropped_anomalies", v.dropped_anomalies)):
            full = P + name + "_total"
            fam = CounterMetricFamily(full, _BY_NAME[full].help, labels=["reason"])
            for reason, n in sorted(by_reason.items()):
                fam.add_metric([reason], float(n))
            yield fam


class GatewayMetrics:
    """The gateway's metrics on a private registry (several services may share a process)."""

    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        info = Gauge("iotgw_build_info", _BY_NAME["iotgw_build_info"].help,
                     ["service", "version"], registry=r)
        info.labels(service="gateway", version=package_version()).set(1)
        self.messages_received = self._counter("messages_received_total")
        self.messages = self._counter("messages_total")
        self.messages_decoded = self._counter("messages_decoded_total")
        self.readings_buffered = self._counter("readings_buffered_total")
        self.anomalies = self._counter("anomalies_total")
        self.scorer_errors = self._counter("scorer_errors_total")
        self.dead_letters = self._counter("dead_letters_total")
        self.dead_letters_evicted = self._counter("dead_letters_evicted_total")
        self.commit_duration = self._histogram("commit_duration_seconds")
        self.commit_failures = self._counter("commit_failures_total")
        self.process_duration = self._histogram("process_duration_seconds")
        self.process_cpu = self._counter("process_cpu_seconds_total")
        self.process_failures = self._counter("process_failures_total")
        self.log_full_waits = self._counter("log_full_waits_total")
        self.acks_skipped = self._counter("acks_skipped_total")
        self.backpressure_waits = self._counter("backpressure_waits_total")
        self.broker_connect_failures = self._counter("broker_connect_failures_total")
        self.decode_worker_failures = self._counter("decode_worker_failures_total")
        self.score_worker_failures = self._counter("score_worker_failures_total")
        self.local_publish_failures = self._counter("local_publish_failures_total")
        self.uplink_batches = self._counter("uplink_batches_total")
        self.uplink_retries = self._counter("uplink_retries_total")
        self.uplink_resent = self._counter("uplink_resent_batches_total")
        self.uplink_duration = self._histogram("uplink_request_duration_seconds")
        self.uplink_readings = self._counter("uplink_readings_total")
        self.uplink_anomalies = self._counter("uplink_anomalies_total")
        self.uplink_cloud_rejected = self._counter("uplink_cloud_rejected_total")
        self.uplink_auth_failures = self._counter("uplink_auth_failures_total")
        d = _BY_NAME[P + "uplink_auth_ok"]
        self.uplink_auth_ok = Gauge(d.name, d.help, registry=r)
        self.uplink_auth_ok.set(1)

    def _counter(self, name: str) -> Counter:
        return counter(_BY_NAME[P + name], self.registry)

    def _histogram(self, name: str) -> Histogram:
        return histogram(_BY_NAME[P + name], self.registry)

    def add_source(self, source: ScrapeSource) -> None:
        """Report ``source``'s scrape-time values from now on."""
        self.registry.register(ScrapeCollector(source))

    def render(self) -> bytes:
        """The ``/metrics`` body (Prometheus text format 0.0.4)."""
        return generate_latest(self.registry)

    def value(self, name: str, **labels: str) -> float:
        """One sample's current value (0 when absent), e.g. for tests and the CLI."""
        return self.registry.get_sample_value(name, labels or None) or 0.0
