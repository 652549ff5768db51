"""``/openapi.json`` describes the body of every 2xx response of every route."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cloud.app import create_app
from cloud.settings import load_settings


def _described(schema: dict[str, Any]) -> bool:
    """A schema that says something: a reference, a typed value, or a union of those; a bare
    ``{}`` or a free-form object (``dict[str, Any]``) does not describe a body."""
    if "$ref" in schema:
        return True
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            return all(_described(s) for s in schema[key])
    if schema.get("type") == "array":
        return _described(schema.get("items", {}))
    if schema.get("type") == "object":
        return bool(schema.get("properties")) or (isinstance(
            schema.get("additionalProperties"), dict) and _described(
            schema["additionalProperties"]))
    return "type" in schema


def undescribed(spec: dict[str, Any]) -> list[str]:
    """``METHOD path status`` of every 2xx response without a described body."""
    missing = []
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            for status, response in op.get("responses", {}).items():
                if not status.startswith("2"):
                    continue
                content = response.get("content")
                if status == "204" and not content:
                    continue
                if not content or not all(_described(c.get("schema", {}))
                                          for c in content.values()):
                    missing.append(f"{method.upper()} {path} {status}")
    return missing


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    data = tmp_path_factory.mktemp("openapi")
    settings = load_settings(None, data_dir=data, metadata={"url": f"sqlite:///{data / 'm.db'}"},
                             store={"kind": "sqlite", "path": data / "series.sqlite3"})
    # What GET /openapi.json serves, built from the routes alone (nothing needs to start).
    result: dict[str, Any] = json.loads(json.dumps(create_app(settings).openapi()))
    return result


def test_every_2xx_response_has_a_schema(spec: dict[str, Any]) -> None:
    assert spec["paths"], "no routes"
    assert undescribed(spec) == []


def test_the_check_can_fail() -> None:
    free_form = {"type": "object", "additionalProperties": True}
    spec = {"paths": {"/x": {"get": {"responses": {
        "200": {"content": {"application/json": {"schema": free_form}}}}},
        "delete": {"responses": {"204": {"description": "gone"}}}},
        "/y": {"post": {"responses": {"201": {"description": "no content declared"}}}}}}
    assert undescribed(spec) == ["GET /x 200", "POST /y 201"]
