"""deploy/grafana: provisioning and dashboards for compose users, tested without Grafana.

Every dashboard parses and targets one schema version; every datasource a panel names is
provisioned; every InfluxQL query (panels, variables, annotations) runs against a real
``influxd`` holding a fleet ingested through the cloud and returns rows. The PromQL side is in
tests/e2e/test_grafana_metrics.py (it needs a running gateway).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
GRAFANA = ROOT / "deploy/grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
#: Grafana 11's dashboard schema version (compose pins grafana/grafana:11.x).
SCHEMA_VERSION = 39
#: What Grafana substitutes into InfluxQL before sending it, for a device of the demo fleet.
MACROS = {"$timeFilter": "time > now() - 2d", "$__interval": "10m", "$device": "pump-01",
          "$sensor": "temperature"}


def dashboards() -> dict[str, dict[str, Any]]:
    return {p.stem: json.loads(p.read_text()) for p in DASHBOARDS}


def datasources() -> dict[str, dict[str, Any]]:
    doc = yaml.safe_load((GRAFANA / "provisioning/datasources/iotgw.yaml").read_text())
    return {d["uid"]: d for d in doc["datasources"]}


def panels(d: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for p in d["panels"]:
        yield p
        yield from p.get("panels", [])


def targets(d: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(where, datasource, target) for panel targets, variables and annotations."""
    for p in panels(d):
        for t in p.get("targets", []):
            yield f"panel {p['title']!r}", t.get("datasource") or p["datasource"], t
    for v in d["templating"]["list"]:
        yield f"variable {v['name']}", v["datasource"], {"query": v["query"]}
    for a in d["annotations"]["list"]:
        yield f"annotation {a['name']}", a["datasource"], a["target"]


def influxql_queries() -> list[tuple[str, str]]:
    return [(f"{name}: {where}", t["query"]) for name, d in dashboards().items()
            for where, ds, t in targets(d) if ds["type"] == "influxdb"]


def test_dashboards_parse_and_target_one_schema_version() -> None:
    found = dashboards()
    assert set(found) == {"fleet-overview", "device-trends", "pipeline-health"}
    uids = [d["uid"] for d in found.values()]
    assert len(set(uids)) == len(uids)
    for name, d in found.items():
        assert d["schemaVersion"] == SCHEMA_VERSION, name
        assert d["title"] and d["panels"], name
        ids = [p["id"] for p in panels(d)]
        assert len(set(ids)) == len(ids), f"{name}: panel ids repeat"
        for p in panels(d):
            pos = p["gridPos"]
            assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24 and pos["h"] > 0, p["title"]
            assert p["targets"], f"{name}: panel {p['title']!r} has no query"


def test_every_datasource_named_is_provisioned_and_points_at_compose() -> None:
    provisioned = datasources()
    for name, d in dashboards().items():
        for where, ds, _t in targets(d):
            assert ds["uid"] in provisioned, f"{name}: {where} uses {ds['uid']}"
            assert provisioned[ds["uid"]]["type"] == ds["type"]
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]
    for ds in provisioned.values():
        host = re.match(r"http://([a-z0-9-]+):(\d+)$", ds["url"])
        assert host and host[1] in compose, ds["url"]
    influx = provisioned["iotgw-influxdb"]
    cloud = (ROOT / "deploy/compose/cloud.toml").read_text()
    assert f'database = "{influx["jsonData"]["dbName"]}"' in cloud
    assert "$INFLUXDB_TOKEN" in influx["secureJsonData"]["httpHeaderValue1"]
    providers = yaml.safe_load((GRAFANA / "provisioning/dashboards/iotgw.yaml").read_text())
    path = providers["providers"][0]["options"]["path"]
    mounts = compose["grafana"]["volumes"]
    assert f"./deploy/grafana/dashboards:{path}:ro" in mounts


def test_prometheus_scrapes_the_gateway_and_the_cloud() -> None:
    import tomllib

    conf = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    scraped = {t for job in conf["scrape_configs"] for sc in job.get("static_configs", [])
               for t in sc["targets"]}
    scraped |= {f"{name}:{sd['port']}" for job in conf["scrape_configs"]
                for sd in job.get("dns_sd_configs", []) for name in sd["names"]}
    gateway = tomllib.loads((ROOT / "deploy/compose/gateway.toml").read_text())["health"]["port"]
    cloud_toml = tomllib.loads((ROOT / "deploy/compose/cloud.toml").read_text())
    assert scraped == {f"gateway:{gateway}", f"cloud:{cloud_toml['server']['port']}"}
    # Every replica is scraped (DNS A records), and its /metrics answers a scraper that is not
    # on loopback and holds no token.
    cloud_job = next(j for j in conf["scrape_configs"] if j["job_name"] == "iotgw-cloud")
    assert cloud_job["dns_sd_configs"][0]["type"] == "A"
    assert cloud_toml["auth"]["probes"] == "open"


def test_the_shipped_prometheus_config_passes_promtool() -> None:
    import subprocess

    from tests.support.servers import need_binary

    promtool = need_binary("promtool", "install it with `sudo apt-get install prometheus` "
                                       "(or bash scripts/install-deps.sh)")
    done = subprocess.run([promtool, "check", "config",
                           str(ROOT / "deploy/prometheus/prometheus.yml")],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0 and "SUCCESS" in done.stdout, done.stdout + done.stderr


@pytest.mark.integration
@pytest.mark.parametrize(("where", "query"), influxql_queries())
def test_every_influxql_query_returns_rows(fleet_in_influx: tuple[str, str], where: str,
                                          query: str) -> None:
    url, database = fleet_in_influx
    text = query
    for macro, value in MACROS.items():
        text = text.replace(macro, value)
    assert not re.search(r"\$[A-Za-z_]", text), f"{where}: an unknown macro in {text}"
    r = httpx.get(f"{url}/query", params={"db": database, "q": text, "epoch": "ms"}, timeout=30)
    assert r.status_code == 200, r.text
    result = r.json()["results"][0]
    assert "error" not in result, f"{where}: {result.get('error')}\n{text}"
    rows = sum(len(s["values"]) for s in result.get("series", []))
    assert rows > 0, f"{where}: no rows for\n{text}"


@pytest.fixture(scope="module")
def fleet_in_influx(_shared_influxdb: Any, tmp_path_factory: pytest.TempPathFactory
                    ) -> Iterator[tuple[str, str]]:
    """The demo fleet ingested through a real cloud into a fresh database of the shared
    ``influxd``: (influxd URL, database)."""
    from cloud.app import create_app
    from cloud.settings import load_settings
    from tests.support.dashboard_data import populate
    from tests.support.http import UvicornThread

    database = f"grafana_{int(time.time() * 1000)}"
    settings = load_settings(None, data_dir=tmp_path_factory.mktemp("grafana-cloud"), store={
        "kind": "influxdb", "url": _shared_influxdb.url, "database": database, "timeout_s": 10})
    app = create_app(settings)
    with UvicornThread(app) as server:
        tokens = {gw: app.state.services.tokens.create(gw)[1] for gw in ("gw-a", "gw-b")}
        admin = app.state.services.tokens.create(scopes=["admin"])[1]
        populate(server.url, tokens, int(time.time() * 1000), admin)
        yield _shared_influxdb.url, database
    _shared_influxdb.query(f'DROP DATABASE "{database}"', method="POST")
