"""docs/metrics.md is what scripts/gen_metrics_doc.py generates from the code, and the code
registers exactly the declared metrics (names, types, help), so the reference cannot drift."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from cloud.metrics import DEFINITIONS as CLOUD_DEFS
from cloud.metrics import CloudMetrics
from gateway.metrics import DEFINITIONS as GATEWAY_DEFS
from gateway.metrics import GatewayMetrics

ROOT = Path(__file__).resolve().parent.parent


def test_the_checked_in_reference_is_the_generated_one() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_metrics_doc.py"),
                           "--check"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def _registered(registry: CollectorRegistry) -> dict[str, tuple[str, str]]:
    out = {}
    for fam in registry.collect():
        if fam.name.startswith(("process_", "python_")):
            continue
        name = fam.name + "_total" if fam.type == "counter" else fam.name
        out[name] = (fam.type, fam.documentation)
    return out


@pytest.mark.parametrize(("registry", "defs"), [
    (GatewayMetrics().registry, GATEWAY_DEFS),
    (CloudMetrics().registry, CLOUD_DEFS),
], ids=["gateway", "cloud"])
def test_registered_metrics_are_declared(registry: CollectorRegistry, defs: tuple) -> None:
    """Metric objects on the registry match their declarations; the rest of the declarations
    are the scrape-time ones (checked against the real processes in tests/integration)."""
    declared = {d.name: (d.type, d.help) for d in defs}
    registered = _registered(registry)
    assert registered
    for name, kind_help in registered.items():
        assert declared.get(name) == kind_help, name
