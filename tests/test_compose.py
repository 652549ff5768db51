"""compose.yaml, the Dockerfile and the systemd unit are coherent with the code.

No Docker engine is needed: the files are parsed and checked against the real settings classes
of the gateway and the cloud, so a renamed setting breaks this test instead of a deployment.
"""

from __future__ import annotations

import configparser
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from cloud.settings import ENV_PREFIX as CLOUD_PREFIX
from cloud.settings import CloudSettings
from cloud.settings import load_settings as load_cloud_settings
from common.settings import NESTED
from gateway.settings import ENV_PREFIX as GATEWAY_PREFIX
from gateway.settings import GatewaySettings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "compose.yaml"
ENV_NAME = re.compile(r"\bIOTGW_[A-Z0-9_]+")
ENV_PREFIXES: dict[type[BaseModel], str] = {CloudSettings: CLOUD_PREFIX,
                                             GatewaySettings: GATEWAY_PREFIX}
EXPECTED_SERVICES = {"mosquitto", "influxdb", "cloud-init", "cloud", "gateway", "simulator",
                     "prometheus", "grafana", "postgres", "balancer"}
BUILT = {"cloud-init", "cloud", "gateway", "simulator"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def env_names_read_by(cls: type[BaseModel]) -> set[str]:
    """Every environment variable name ``cls`` reads: the prefix, nested with its delimiter."""
    prefix = ENV_PREFIXES[cls]
    delimiter = NESTED
    names: set[str] = set()

    def walk(model: type[BaseModel], path: str) -> None:
        for name, field in model.model_fields.items():
            env = f"{path}{(field.alias or name)}".upper()
            names.add(env)
            sub = field.annotation
            if delimiter and isinstance(sub, type) and issubclass(sub, BaseModel):
                walk(sub, env + delimiter)

    walk(cls, prefix)
    return names


def our_settings_classes() -> list[type[BaseModel]]:
    return [CloudSettings, GatewaySettings]


def iotgw_env_names(compose: dict[str, Any]) -> dict[str, set[str]]:
    """IOTGW_* names per service, from ``environment`` and from shell commands."""
    found: dict[str, set[str]] = {}
    for name, svc in services(compose).items():
        env = svc.get("environment") or {}
        keys = set(env) if isinstance(env, dict) else {e.split("=", 1)[0] for e in env}
        text = yaml.safe_dump([svc.get("command"), svc.get("entrypoint")])
        found[name] = {k for k in keys if k.startswith("IOTGW_")} | set(ENV_NAME.findall(text))
    return found


def test_services_are_the_whole_system(compose: dict[str, Any]) -> None:
    assert set(services(compose)) == EXPECTED_SERVICES


def test_images_are_pinned(compose: dict[str, Any]) -> None:
    for name, svc in services(compose).items():
        image = svc["image"]
        repo, _, tag = image.rpartition(":")
        assert repo and tag, f"{name}: image {image!r} has no tag"
        assert tag != "latest" and re.search(r"\d", tag), f"{name}: {image!r} is not pinned"
        if name in BUILT:
            assert svc["build"]["dockerfile"] == "Dockerfile", name
            assert (ROOT / svc["build"]["context"] / "Dockerfile").is_file()
    assert services(compose)["mosquitto"]["image"].startswith("eclipse-mosquitto:2.")
    assert services(compose)["influxdb"]["image"].startswith("influxdb:2.")


def test_published_ports_are_loopback_and_match_the_configs(compose: dict[str, Any]) -> None:
    published: dict[str, list[int]] = {}
    for name, svc in services(compose).items():
        for spec in svc.get("ports", []):
            host_ip, host_port, container_port = str(spec).split(":")
            assert host_ip == "127.0.0.1", f"{name}: {spec} is published beyond loopback"
            assert host_port == container_port
            published.setdefault(name, []).append(int(container_port))
    assert published["mosquitto"] == [1883, 8883]
    assert published["influxdb"] == [8086]
    assert published["prometheus"] == [9090]
    assert published["grafana"] == [3000]
    cloud_cfg = tomllib.loads((ROOT / "deploy/compose/cloud.toml").read_text())
    # The cloud's replicas publish nothing: the balancer is the way in, on the cloud's port.
    assert "cloud" not in published
    assert published["balancer"] == [cloud_cfg["server"]["port"]]
    gateway_cfg = tomllib.loads((ROOT / "deploy/compose/gateway.toml").read_text())
    assert published["gateway"] == [gateway_cfg["health"]["port"]]
    conf = (ROOT / "deploy/mosquitto/mosquitto.conf").read_text()
    assert "listener 1883" in conf and "listener 8883" in conf


def test_volumes_are_declared_and_bind_mounts_exist(compose: dict[str, Any]) -> None:
    declared = set(compose["volumes"])
    used: set[str] = set()
    for name, svc in services(compose).items():
        for spec in svc.get("volumes", []):
            source = spec.split(":")[0]
            if source.startswith("."):
                assert (ROOT / source).exists(), f"{name}: {source} does not exist"
            else:
                assert source in declared, f"{name}: volume {source} is not declared"
                used.add(source)
    assert used == declared, f"declared but unused: {declared - used}"
    mounts = {v.split(":")[1] for v in services(compose)["gateway"]["volumes"]}
    assert "/var/lib/iotgw/gateway" in mounts, "the gateway's buffer must be on a volume"
    influx_mounts = {v.split(":")[1] for v in services(compose)["influxdb"]["volumes"]}
    assert "/var/lib/influxdb2" in influx_mounts


def test_health_checks_and_start_order(compose: dict[str, Any]) -> None:
    svcs = services(compose)
    for name in ("mosquitto", "influxdb", "cloud", "gateway", "prometheus", "grafana"):
        assert svcs[name].get("healthcheck", {}).get("test"), f"{name} has no health check"
    for name in ("cloud", "gateway"):
        assert "/readyz" in " ".join(svcs[name]["healthcheck"]["test"]), name
    for name, svc in svcs.items():
        for dep, cond in (svc.get("depends_on") or {}).items():
            assert dep in svcs, f"{name} depends on unknown {dep}"
            if cond["condition"] == "service_healthy":
                assert "healthcheck" in svcs[dep], f"{name} waits for {dep}, which has none"


def test_every_required_variable_is_in_the_env_example() -> None:
    required = set(re.findall(r"\$\{([A-Z0-9_]+):\?", COMPOSE.read_text()))
    example = (ROOT / "deploy/compose/env.example").read_text()
    given = {line.split("=", 1)[0] for line in example.splitlines() if "=" in line}
    assert required and required <= given, f"missing from env.example: {required - given}"


def test_influxdb_initial_setup_matches_the_cloud_store(compose: dict[str, Any]) -> None:
    env = services(compose)["influxdb"]["environment"]
    assert env["DOCKER_INFLUXDB_INIT_MODE"] == "setup"
    store = tomllib.loads((ROOT / "deploy/compose/cloud.toml").read_text())["store"]
    assert store["kind"] == "influxdb"
    assert store["database"] == env["DOCKER_INFLUXDB_INIT_BUCKET"]
    assert store["create_database"] is False
    assert "IOTGW_CLOUD_STORE__TOKEN" in services(compose)["cloud"]["environment"]


def test_every_iotgw_env_name_is_read_by_our_settings(compose: dict[str, Any]) -> None:
    known = set().union(*(env_names_read_by(c) for c in our_settings_classes()))
    # The simulator's CLI reads its MQTT password from the environment (not a settings class).
    assert "IOTGW_SIM_PASSWORD" in (ROOT / "simulators/cli.py").read_text()
    known.add("IOTGW_SIM_PASSWORD")
    unit = (ROOT / "deploy/iotgw-gateway.service").read_text()
    per_service = iotgw_env_names(compose)
    per_service["systemd"] = set(ENV_NAME.findall(unit))
    assert any(per_service.values())
    for where, names in per_service.items():
        unknown = names - known
        assert not unknown, f"{where}: no settings class reads {sorted(unknown)}"


def test_shipped_config_files_load_with_the_real_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    load_cloud, load_gateway = load_cloud_settings, GatewaySettings.load

    for key in [k for k in os.environ if k.startswith("IOTGW_")]:
        monkeypatch.delenv(key)
    assert load_cloud(ROOT / "deploy/compose/cloud.toml").store.kind == "influxdb"
    gateway = load_gateway(ROOT / "deploy/compose/gateway.toml", env={})
    assert gateway.mqtt.url == "mqtt://mosquitto:1883"
    assert gateway.health.port == 9108


def test_mosquitto_queue_limits_are_deliberate() -> None:
    conf = (ROOT / "deploy/mosquitto/mosquitto.conf").read_text()
    settings = dict(
        line.split(None, 1) for line in conf.splitlines() if line and not line.startswith("#")
    )
    assert settings["max_queued_messages"] == "0"
    assert settings["max_queued_bytes"] == "0"
    assert settings["persistence"] == "true"
    assert int(settings["max_inflight_messages"]) > 20


def test_dockerfile_installs_the_package_as_non_root() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim$", text, re.M)
    install = re.search(r"^RUN pip install '\.\[([a-z,]+)\]'", text, re.M)
    assert install, "the image installs the package with the extras its services need"
    assert {"gateway", "cloud", "sim"} <= set(install[1].split(","))
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "packages"]["find"]["include"]
    for package in (p.rstrip("*") for p in packages):
        assert re.search(rf"^COPY {package} \./{package}$", text, re.M), package
    users = re.findall(r"^USER (\S+)$", text, re.M)
    assert users and users[-1] not in {"root", "0"}


def _unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((ROOT / "deploy/iotgw-gateway.service").read_text())
    return parser


def _seconds(value: str) -> float:
    match = re.fullmatch(r"(\d+)(ms|s|min)?", value.strip())
    assert match, value
    return int(match[1]) * {"ms": 0.001, "s": 1, "min": 60, None: 1}[match[2]]


def test_systemd_unit_restarts_keeps_state_and_outlasts_the_shutdown_deadline() -> None:
    load_gateway = GatewaySettings.load
    service = _unit()["Service"]
    assert service["Restart"] == "on-failure"
    assert service["StateDirectory"] == "iotgw-gateway"
    assert service["User"] != "root"
    assert service["NoNewPrivileges"] == "yes" and service["ProtectSystem"] == "strict"
    assert "gateway run --config" in service["ExecStart"]
    settings = load_gateway(ROOT / "deploy/compose/gateway.toml", env={})
    # The gateway's own shutdown deadline: the last uplink attempt it makes on SIGTERM.
    deadline = settings.uplink.shutdown_flush_s + settings.uplink.timeout_s
    assert _seconds(service["TimeoutStopSec"]) >= deadline


def test_compose_gives_the_gateway_its_shutdown_deadline(compose: dict[str, Any]) -> None:
    load_gateway = GatewaySettings.load
    settings = load_gateway(ROOT / "deploy/compose/gateway.toml", env={})
    deadline = settings.uplink.shutdown_flush_s + settings.uplink.timeout_s
    assert _seconds(services(compose)["gateway"]["stop_grace_period"]) >= deadline


def test_env_name_introspection_tells_real_names_from_typos() -> None:
    known = set().union(*(env_names_read_by(c) for c in our_settings_classes()))
    # The simulator's CLI reads its MQTT password from the environment (not a settings class).
    assert "IOTGW_SIM_PASSWORD" in (ROOT / "simulators/cli.py").read_text()
    known.add("IOTGW_SIM_PASSWORD")
    assert {"IOTGW_GATEWAY_UPLINK__TOKEN", "IOTGW_CLOUD_STORE__TOKEN",
            "IOTGW_GATEWAY_GATEWAY__DATA_DIR", "IOTGW_CLOUD_DATA_DIR"} <= known
    assert not {"IOTGW_GATEWAY_UPLINK__TOKN", "IOTGW_GATEWAY_TOKEN",
                "IOTGW_CLOUD_STORE_TOKEN"} & known


def test_systemd_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    """systemd's own checker, when the machine has it (the checks above run everywhere)."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed; the unit's keys are checked above")
    unit = tmp_path / "iotgw-gateway.service"
    text = (ROOT / "deploy/iotgw-gateway.service").read_text()
    unit.write_text(text.replace("/usr/local/bin/iotgw", shutil.which("true") or "/bin/true"))
    proc = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0 and "iotgw-gateway.service" not in proc.stderr, proc.stderr


def test_the_balancer_fronts_every_cloud_replica_on_readyz(compose: dict[str, Any]) -> None:
    """HAProxy (pinned 2.x) health-checks the replicas on /readyz; the gateway's uplink goes
    through it; every replica shares one PostgreSQL for metadata."""
    svc = services(compose)
    assert re.fullmatch(r"haproxy:2\.\d+\.\d+(-alpine)?", svc["balancer"]["image"])
    cfg = (ROOT / "deploy/haproxy/haproxy.cfg").read_text()
    cloud_port = tomllib.loads((ROOT / "deploy/compose/cloud.toml").read_text())["server"]["port"]
    assert "option httpchk GET /readyz" in cfg and f"cloud:{cloud_port}" in cfg
    # The checks come from the compose network, not loopback: the probes must answer them,
    # and the balancer must not hand them to its own clients.
    cloud_auth = tomllib.loads((ROOT / "deploy/compose/cloud.toml").read_text())["auth"]
    assert cloud_auth["probes"] == "open"
    assert "http-request deny deny_status 404 if { path /readyz /metrics }" in cfg
    gateway = GatewaySettings.load(ROOT / "deploy/compose/gateway.toml", env={})
    assert gateway.uplink.url == f"http://balancer:{cloud_port}"
    assert "IOTGW_CLOUD_METADATA__URL" in svc["cloud"]["environment"]
    assert svc["cloud"]["environment"]["IOTGW_CLOUD_METADATA__URL"] == (
        svc["cloud-init"]["environment"]["IOTGW_CLOUD_METADATA__URL"])
    haproxy = shutil.which("haproxy", path=f"{os.environ.get('PATH', '')}:/usr/sbin")
    if haproxy is not None:  # HAProxy's own checker, when the machine has it
        proc = subprocess.run([haproxy, "-c", "-f", str(ROOT / "deploy/haproxy/haproxy.cfg")],
                              capture_output=True, text=True, check=False, timeout=30)
        assert proc.returncode == 0, proc.stdout + proc.stderr
