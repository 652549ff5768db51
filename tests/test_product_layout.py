"""The product package's place in the layout (decision 43), checked on the source.

``simulators`` imports only ``firmware_protocol`` of ours; no shipped package but ``iotgw``
itself imports ``iotgw``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OURS = {"iotgw", "gateway", "cloud", "simulators", "firmware_protocol", "ingest_protocol",
        "common"}


def imported_packages(package: str) -> dict[str, set[str]]:
    """``{module file: our top-level packages it imports}`` for every module of ``package``."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(ROOT))] = (names & OURS) - {package}
    return found


def test_simulators_imports_only_the_device_contract() -> None:
    wrong = {f: ours - {"firmware_protocol"}
             for f, ours in imported_packages("simulators").items()
             if ours - {"firmware_protocol"}}
    assert not wrong


@pytest.mark.parametrize("package", ["firmware_protocol", "gateway", "cloud", "simulators"])
def test_no_shipped_package_imports_the_product_package(package: str) -> None:
    assert not [f for f, ours in imported_packages(package).items() if "iotgw" in ours]
