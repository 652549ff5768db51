"""Cloud replicas behind a real HAProxy, on one PostgreSQL and one InfluxDB.

The gateway's uplink points at the balancer; one replica is killed with SIGKILL mid-stream.
The manifest reconciles (nothing lost, nothing stored twice), and a threshold rule installed
through the balancer opens exactly one alert per series and delivers each to a webhook
receiver on loopback exactly once.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.alerting.receiver import Receiver
from tests.conftest import InfluxDatabase, PostgresDatabase
from tests.support.haproxy import HAProxy
from tests.support.processes import CloudProcess, GatewayProcess
from tests.support.reconcile import wait_delivered, wait_until
from tests.support.servers import Mosquitto
from tests.support.stack import Simulation

pytestmark = [pytest.mark.integration]

DEVICES = 8


def replica(workdir: Path, influx: InfluxDatabase, metadata_url: str) -> CloudProcess:
    store = {"kind": "influxdb", "url": influx.url, "database": influx.database,
             "precision": "ms", "timeout_s": 5.0}
    cloud = CloudProcess(workdir, store, {"retry_after_s": 1, "inflight_lease_s": 5.0})
    cloud.config["metadata"] = {"url": metadata_url}
    cloud.config["alerting"] = {"evaluate_every_s": 1.0, "rules_refresh_s": 0.5,
                                "webhooks": {"allow_loopback": True, "poll_s": 0.2}}
    cloud.write_config()
    return cloud


@pytest.fixture
def balanced(tmp_path: Path, influxdb: InfluxDatabase,
             postgres: PostgresDatabase) -> Iterator[tuple[HAProxy, list[CloudProcess]]]:
    clouds = [replica(tmp_path / f"cloud{i}", influxdb, postgres.url) for i in range(2)]
    proxy = HAProxy(tmp_path / "haproxy", [(c.host_port()) for c in clouds])
    try:
        for c in clouds:
            c.start()
        proxy.start()
        assert wait_until(lambda: httpx.get(f"{proxy.url}/readyz", timeout=2).is_success, 20)
        yield proxy, clouds
    finally:
        proxy.kill()
        for c in clouds:
            c.kill()


def test_the_generated_config_is_valid(tmp_path: Path) -> None:
    HAProxy(tmp_path, [("127.0.0.1", 8001), ("127.0.0.1", 8002)]).check()


@pytest.mark.faults
def test_killing_a_replica_behind_the_balancer_loses_and_repeats_nothing(
        tmp_path: Path, balanced: tuple[HAProxy, list[CloudProcess]], mosquitto: Mosquitto,
        influxdb: InfluxDatabase) -> None:
    proxy, clouds = balanced
    with Receiver(time.time) as receiver:
        hook = httpx.post(f"{proxy.url}/v1/webhooks", json={"url": receiver.url}, timeout=10)
        assert hook.status_code == 201, hook.text
        receiver.secret = hook.json()["secret"]
        rule = httpx.post(f"{proxy.url}/v1/rules", timeout=10, json={
            "name": "any-temperature", "kind": "threshold", "op": "above", "limit": -1000.0,
            "scope": {"sensor": "temperature"}})
        assert rule.status_code == 201, rule.text
        gateway = GatewayProcess.for_cloud(
            tmp_path / "gateway", mosquitto.url, proxy.url, clouds[0].create_token("gw-lb"),
            gateway_id="gw-lb")
        try:
            gateway.start()
            sim = Simulation(tmp_path / "sim", mosquitto.url,
                             {"qos": 1, "seed": 3, "devices": DEVICES, "rate": 300,
                              "count": 4500, "format": "binary"}).start()
            assert wait_until(lambda: gateway.received() > 900, 30)
            clouds[0].kill()  # mid-stream: batches are in flight through both replicas
            sim.wait(120)
            rec = wait_delivered(sim.manifest, influxdb.url, influxdb.database, 120)
            assert rec.expected > 0 and rec.ok, (
                rec.summary() + gateway.log_tail() + clouds[1].log_tail())
            firing = wait_alerts(proxy, receiver)
        finally:
            gateway.kill()
    alerts = httpx.get(f"{proxy.url}/v1/alerts", params={"state": "firing"}, timeout=10).json()
    assert sorted(a["device"] for a in alerts) == [f"dev-{i:04d}" for i in range(DEVICES)]
    ids = [r["id"] for r in receiver.received]
    assert all(r["valid"] for r in receiver.received)
    assert len(firing) == DEVICES and not [k for k, n in Counter(ids).items() if n > 1], ids


def wait_alerts(proxy: HAProxy, receiver: Receiver) -> list[str]:
    """Wait for one firing delivery per device, then a little more so repeats would show."""
    def firing() -> list[str]:
        return [r["id"] for r in receiver.received
                if json.loads(r["body"])["type"] == "alert.firing"]

    wait_until(lambda: len(firing()) >= DEVICES, 60)
    time.sleep(3)
    return firing()
