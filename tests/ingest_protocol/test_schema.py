"""The checked-in JSON Schemas are what the contract's types generate, and the vectors and the
generator agree with the validators."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from ingest_protocol import SUPPORTED_VERSIONS, VERSION
from ingest_protocol.schema import SCHEMA_DIR, main, schemas

ROOT = Path(__file__).resolve().parents[2]


def test_checked_in_schemas_match_the_types():
    for name, text in schemas().items():
        assert (SCHEMA_DIR / name).read_text(encoding="utf-8") == text, (
            f"{name} is stale: run python -m ingest_protocol.schema")
    assert main(["--check"]) == 0


def test_the_batch_schema_states_the_version_and_every_record():
    schema = json.loads((SCHEMA_DIR / f"batch.v{VERSION}.json").read_text(encoding="utf-8"))
    assert schema["properties"]["v"]["const"] == VERSION and "v" not in schema["required"]
    assert set(schema["$defs"]) == {"Reading", "Anomaly"}
    assert set(schema["$defs"]["Reading"]["required"]) == {"device", "sensor", "ts", "value",
                                                           "seq"}
    assert VERSION in SUPPORTED_VERSIONS


def test_the_generator_reproduces_the_checked_in_vectors():
    spec = importlib.util.spec_from_file_location(
        "generate_ingest_vectors", ROOT / "scripts" / "generate_ingest_vectors.py")
    assert spec is not None and spec.loader is not None
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    checked_in = ROOT / "ingest_protocol" / "vectors" / "batches.json"
    assert generator.render() == checked_in.read_text(encoding="utf-8"), (
        "stale vectors: run PYTHONPATH=. python scripts/generate_ingest_vectors.py")
