"""Every PromQL expression of the Grafana pipeline dashboard names a metric that a real gateway
or cloud exports (scraped from their /metrics after a simulated fleet's readings went through)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest

from tests.support.stack import Stack

pytestmark = pytest.mark.integration

DASHBOARDS = Path(__file__).resolve().parents[2] / "deploy/grafana/dashboards"
#: Histogram and summary series come with these suffixes on the metric's base name.
SUFFIXES = ("_bucket", "_sum", "_count", "_max")


def exported(text: str) -> set[str]:
    """Sample names plus names declared by ``# TYPE`` (a counter with no sample yet)."""
    names = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            names.add(line.split()[2])
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names


def promql() -> list[tuple[str, str]]:
    out = []
    for path in sorted(DASHBOARDS.glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            for t in panel["targets"]:
                if (t.get("datasource") or panel["datasource"])["type"] == "prometheus":
                    out.append((f"{path.stem}: {panel['title']}", t["expr"]))
    return out


def test_every_promql_expression_names_exported_metrics(stack: Stack) -> None:
    exprs = promql()
    assert len(exprs) >= 10
    sim = stack.simulation(devices=2, rate=200, count=400, format="json").run()
    assert stack.delivered(sim.manifest, timeout=60).ok
    names = (exported(httpx.get(f"{stack.gw.health_url}/metrics", timeout=10).text)
             | exported(httpx.get(f"{stack.cloud.url}/metrics", timeout=10).text))
    for where, expr in exprs:
        used = set(re.findall(r"\biotgw_[a-z0-9_]+", expr))
        assert used, f"{where}: {expr} names no iotgw metric"
        for name in used:
            known = name in names or any(name == base + s for base in names for s in SUFFIXES)
            assert known, f"{where}: {name} is not exported by the gateway or the cloud"
