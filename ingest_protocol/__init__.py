"""The wire contract between a gateway and the cloud: the ``POST /v1/ingest`` batch.

Pure code, no I/O; imports only :mod:`firmware_protocol` (for the data model's limits). The
records live in :mod:`ingest_protocol.model`, the verdicts (statuses and rejection reasons) in
:mod:`ingest_protocol.validate`, the JSON Schema in ``schema/`` (regenerate with
``python -m ingest_protocol.schema``), vectors in ``vectors/``; ``SPEC.md`` is the document
both sides implement, with the versioning and evolution rules.
"""

from ingest_protocol.errors import EnvelopeRejected, IngestProtocolError
from ingest_protocol.model import (
    SUPPORTED_VERSIONS,
    VERSION,
    Anomaly,
    AnomalyOut,
    AnomalyRecord,
    Batch,
    Envelope,
    IngestResponse,
    Reading,
    Rejection,
    ValidEnvelope,
)
from ingest_protocol.text import clean_name, name_problem
from ingest_protocol.validate import (
    MAX_JSON_DEPTH,
    Checked,
    Verdict,
    anomaly_problem,
    check_anomalies,
    check_depth,
    check_future,
    check_limits,
    check_readings,
    check_version,
    error_reason,
    fast_parse,
    future_problem,
    json_depth,
    judge,
    name_value_problem,
    names_problem,
    needs_byte_check,
    parse_envelope,
    reading_problem,
    utf8_problem,
)

__all__ = [
    "MAX_JSON_DEPTH",
    "SUPPORTED_VERSIONS",
    "VERSION",
    "Anomaly",
    "AnomalyOut",
    "AnomalyRecord",
    "Batch",
    "Checked",
    "Envelope",
    "EnvelopeRejected",
    "IngestProtocolError",
    "IngestResponse",
    "Reading",
    "Rejection",
    "ValidEnvelope",
    "Verdict",
    "anomaly_problem",
    "check_anomalies",
    "check_depth",
    "check_future",
    "check_limits",
    "check_readings",
    "check_version",
    "clean_name",
    "error_reason",
    "fast_parse",
    "future_problem",
    "json_depth",
    "judge",
    "name_problem",
    "name_value_problem",
    "names_problem",
    "needs_byte_check",
    "parse_envelope",
    "reading_problem",
    "utf8_problem",
]
