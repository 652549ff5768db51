"""Pipeline health: what the pipeline knows about itself.

Freshness per device, volume drops and surges against a rolling baseline, schema changes, and
SLA tracking (readings queryable within N s, ingest availability). The ingest path feeds
:class:`IngestRecorder`; :class:`PipelineHealth` runs the checks for the API and for
``pipeline`` rules.
"""

from cloud.alerting.monitors.base import Finding, HealthCheck
from cloud.alerting.monitors.freshness import FreshnessCheck
from cloud.alerting.monitors.health import PipelineHealth
from cloud.alerting.monitors.recorder import IngestRecorder
from cloud.alerting.monitors.schema import SchemaCheck
from cloud.alerting.monitors.sla import SlaCheck
from cloud.alerting.monitors.volume import VolumeCheck

__all__ = [
    "Finding",
    "FreshnessCheck",
    "HealthCheck",
    "IngestRecorder",
    "PipelineHealth",
    "SchemaCheck",
    "SlaCheck",
    "VolumeCheck",
]
