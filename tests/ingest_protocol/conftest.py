"""The ingest contract's vectors, loaded once for every conformance test."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import ingest_protocol

VECTORS_FILE = Path(ingest_protocol.__file__).parent / "vectors" / "batches.json"
DOC: dict[str, Any] = json.loads(VECTORS_FILE.read_text(encoding="utf-8"))
LIMITS: dict[str, int] = DOC["limits"]
VECTORS: list[dict[str, Any]] = DOC["vectors"]


def outcome(status: int, body: Any) -> dict[str, Any]:
    """An HTTP answer in the vectors' ``expect`` form (``detail`` compared only when the
    vector words it)."""
    if status == 200:
        return {"status": 200, "response": body}
    return {"status": status, "detail": body.get("detail") if isinstance(body, dict) else None}


def matches(expect: dict[str, Any], got: dict[str, Any]) -> bool:
    if expect["status"] != got["status"]:
        return False
    if expect["status"] == 200:
        return bool(expect["response"] == got["response"])
    return expect["detail"] is None or expect["detail"] == got["detail"]


@pytest.fixture
def limited_sink() -> Iterator[tuple[httpx.Client, Any]]:
    """The test sink with the vectors' limits, and a client: ``(client, sink)``."""
    from tests.support.cloud_sink import CloudSink

    sink = CloudSink(max_body_bytes=LIMITS["max_body_bytes"],
                     max_readings=LIMITS["max_readings_per_batch"],
                     max_anomalies=LIMITS["max_anomalies_per_batch"])
    sink.start()
    try:
        with httpx.Client(timeout=30) as client:
            yield client, sink
    finally:
        sink.stop()

