"""Partitioned gateways: one ``[[partition]]`` config, one gateway process per partition.

Two partitions (one site each) read from one real Mosquitto and forward to one cloud; each has
its own subscriptions, gateway id, token, buffer and health port. Two simulators publish one
site each; the merged manifests reconcile: nothing lost, nothing stored twice.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from iotgw.processes import LOOPBACK, free_port
from tests.conftest import InfluxDatabase
from tests.scale.conftest import merge_manifests
from tests.support.processes import CloudProcess, GatewayProcess
from tests.support.reconcile import wait_delivered
from tests.support.servers import Mosquitto
from tests.support.stack import Simulation

ROOT = Path(__file__).resolve().parent.parent.parent
SITES = ("north", "south")
SENSORS = {"north": "temperature,vibration,pressure", "south": "humidity,current"}


def partitioned_config(workdir: Path, broker: str, cloud: CloudProcess) -> dict[str, object]:
    return {
        "gateway": {"id": "edge", "data_dir": str(workdir / "data")},
        "mqtt": {"url": broker, **GatewayProcess.FAST_RETRIES["mqtt"]},
        "uplink": {"url": cloud.url, **GatewayProcess.FAST_RETRIES["uplink"]},
        "health": {"host": LOOPBACK, "port": free_port()},
        "partition": [
            {"name": site, "health_port": free_port(), "token": cloud.create_token(f"edge-{site}"),
             "subscriptions": [{"topic": f"sensors/{site}/{{device}}/{{format}}"}]}
            for site in SITES
        ],
    }


@pytest.fixture
def cloud(tmp_path: Path, influxdb: InfluxDatabase) -> Iterator[CloudProcess]:
    store = {"kind": "influxdb", "url": influxdb.url, "database": influxdb.database,
             "precision": "ms", "timeout_s": 5.0}
    proc = CloudProcess(tmp_path / "cloud", store, {"retry_after_s": 1})
    proc.start()
    try:
        yield proc
    finally:
        proc.kill()


@pytest.mark.integration
def test_two_partitions_share_a_broker_and_deliver_exactly_once(
        tmp_path: Path, mosquitto: Mosquitto, cloud: CloudProcess,
        influxdb: InfluxDatabase) -> None:
    workdir = tmp_path / "gw"
    config = partitioned_config(workdir, mosquitto.url, cloud)
    gateways = [GatewayProcess(workdir, config, partition=site) for site in SITES]
    try:
        for gw in gateways:
            gw.start()
        sims = [Simulation(tmp_path / "sim", mosquitto.url,
                           {"qos": 1, "seed": i, "devices": 6, "rate": 300, "count": 1500,
                            "format": "binary", "site": site, "sensors": SENSORS[site],
                            "device-prefix": f"{site}-"},
                           name=f"sim-{site}").start()
                for i, site in enumerate(SITES)]
        for sim in sims:
            sim.wait(120)
        manifest = merge_manifests([s.manifest for s in sims], tmp_path / "all.jsonl")
        rec = wait_delivered(manifest, influxdb.url, influxdb.database, 90)
        logs = "\n".join(g.log_tail() for g in gateways)
        assert rec.expected > 0 and rec.ok, rec.summary() + logs
        # Each partition took its own site only, into its own buffer.
        acked = [s.acknowledged_lines() for s in sims]
        for gw, own, other in zip(gateways, acked, reversed(acked), strict=True):
            assert own <= gw.received() < own + other
        for site in SITES:
            assert (workdir / "data" / site / "gateway.db").exists()
    finally:
        for gw in gateways:
            gw.kill()


def test_the_template_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    unit = tmp_path / "iotgw-gateway@.service"
    text = (ROOT / "deploy/iotgw-gateway@.service").read_text()
    unit.write_text(text.replace("/usr/local/bin/iotgw", shutil.which("true") or "/bin/true"))
    proc = subprocess.run([analyze, "verify", f"{unit.parent}/iotgw-gateway@north.service"],
                          capture_output=True, text=True, check=False, cwd=tmp_path)
    assert proc.returncode == 0 and "iotgw-gateway@" not in proc.stderr, proc.stderr
