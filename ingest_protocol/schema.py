"""The contract's JSON Schemas, generated from its types: ``schema/batch.v1.json`` (the
request body), ``schema/batch-compact.v1.json`` (the compact body's shape: readings per
series, SPEC.md section 8; the field rules are the JSON batch's) and ``schema/response.v1.json``
(the 200 answer).

``python -m ingest_protocol.schema`` rewrites the checked-in files (the package does no I/O
otherwise); ``--check`` exits 1 if they differ from what the types give.

>>> sorted(schemas())
['batch-compact.v1.json', 'batch.v1.json', 'response.v1.json']
>>> schemas()["batch.v1.json"].endswith("}\\n")
True
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import msgspec

from ingest_protocol.compact import CompactEnvelope
from ingest_protocol.model import VERSION, Batch, IngestResponse

SCHEMA_DIR = Path(__file__).parent / "schema"
_BASE = "https://github.com/iotgw/iotgw/ingest_protocol/schema/"


def _render(model: Any, name: str, title: str) -> str:
    schema = (msgspec.json.schema(model) if isinstance(model, type)
              and issubclass(model, msgspec.Struct) else model.model_json_schema())
    doc = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": _BASE + name,
           **schema, "title": title}
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def schemas() -> dict[str, str]:
    """File name -> the schema text the types give today."""
    return {
        f"batch.v{VERSION}.json": _render(Batch, f"batch.v{VERSION}.json",
                                          f"iotgw ingest batch, version {VERSION}"),
        f"batch-compact.v{VERSION}.json": _render(
            CompactEnvelope, f"batch-compact.v{VERSION}.json",
            f"iotgw compact ingest batch, version {VERSION}"),
        f"response.v{VERSION}.json": _render(IngestResponse, f"response.v{VERSION}.json",
                                             f"iotgw ingest response, version {VERSION}"),
    }


def main(argv: list[str] | None = None) -> int:
    """Write (or with ``--check``, compare) the checked-in schemas."""
    check = "--check" in (sys.argv[1:] if argv is None else argv)
    stale = []
    for name, text in schemas().items():
        path = SCHEMA_DIR / name
        if check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            path.write_text(text, encoding="utf-8")
    if stale:
        print(f"stale: {', '.join(stale)}; run python -m ingest_protocol.schema",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
