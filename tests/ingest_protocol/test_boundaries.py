"""The contract's place in the layout: it imports only ``firmware_protocol`` of ours, and both
sides import it instead of each other."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OURS = {"gateway", "cloud", "simulators", "firmware_protocol", "ingest_protocol", "iotgw",
        "common", "tests", "bench"}


def _imports(package: str) -> set[str]:
    """Top-level packages of ours that modules of ``package`` import."""
    found: set[str] = set()
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.add(node.module.split(".")[0])
    return (found & OURS) - {package}


def test_the_contract_imports_only_the_device_contract():
    assert _imports("ingest_protocol") == {"firmware_protocol"}


def test_gateway_and_cloud_meet_only_in_the_contracts():
    assert "cloud" not in _imports("gateway") and "gateway" not in _imports("cloud")
    assert "ingest_protocol" in _imports("gateway") and "ingest_protocol" in _imports("cloud")
