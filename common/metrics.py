"""What both services' Prometheus metrics share: how a metric is declared, the latency
buckets, and the build version (``prometheus_client`` does the rest).

Each service declares its metrics once, as a tuple of :class:`MetricDef`; its metrics object
builds them from there and ``docs/metrics.md`` is generated from the same tuples.

>>> from prometheus_client import CollectorRegistry
>>> registry = CollectorRegistry()
>>> d = define("demo_requests_total", "counter", "Requests.", "status")
>>> counter(d, registry).labels(status="200").inc()
>>> registry.get_sample_value("demo_requests_total", {"status": "200"})
1.0
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version

from prometheus_client import CollectorRegistry, Counter, Histogram

#: Latency buckets in seconds (1 ms .. 30 s).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                   10.0, 30.0)


@dataclass(frozen=True, slots=True)
class MetricDef:
    """One metric's definition: its exposed name, type, label names and help text."""

    name: str
    type: str
    help: str
    labels: tuple[str, ...] = ()


def define(name: str, type_: str, help_: str, *labels: str) -> MetricDef:
    """A :class:`MetricDef`, labels given as trailing arguments."""
    return MetricDef(name, type_, help_, labels)


def counter(d: MetricDef, registry: CollectorRegistry) -> Counter:
    """The counter ``d`` declares, registered in ``registry``."""
    return Counter(d.name, d.help, d.labels, registry=registry)


def histogram(d: MetricDef, registry: CollectorRegistry) -> Histogram:
    """The latency histogram ``d`` declares (:data:`LATENCY_BUCKETS`), in ``registry``."""
    return Histogram(d.name, d.help, d.labels, registry=registry, buckets=LATENCY_BUCKETS)


def package_version() -> str:
    """The installed iotgw version (``unknown`` when running from an uninstalled tree)."""
    try:
        return version("iotgw")
    except PackageNotFoundError:
        return "unknown"
