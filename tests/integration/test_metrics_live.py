"""The real gateway and cloud processes' ``/metrics`` after traffic: ``promtool check metrics``
passes, every exposed family is declared (so docs/metrics.md lists it), counters never go
backwards across scrapes with two cloud workers, and a refused uplink token shows in the
gateway's ``/readyz`` and metrics.

``promtool`` is Debian's ``prometheus`` package: without it these tests fail under ``CI=true``
and skip elsewhere.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from cloud import metrics as cloud_metrics
from gateway import metrics as gateway_metrics
from tests.support.metrics import sample_totals
from tests.support.processes import CloudProcess, GatewayProcess
from tests.support.publisher import Publisher, message
from tests.support.servers import LOOPBACK, Mosquitto, need_binary

pytestmark = pytest.mark.integration

PROMTOOL_HINT = ("install it with `sudo apt-get install prometheus` "
                 "(or bash scripts/install-deps.sh)")
LIBRARY_PREFIXES = ("process_", "python_")


def promtool_check(text: str) -> None:
    """``promtool check metrics`` on ``text``: no problem reported, exit 0."""
    promtool = need_binary("promtool", PROMTOOL_HINT)
    done = subprocess.run([promtool, "check", "metrics"], input=text.encode(),
                          capture_output=True, timeout=60, check=False)
    report = (done.stdout + done.stderr).decode().strip()
    assert done.returncode == 0 and not report, report


def wait_until(check: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return check()


def assert_declared(text: str, defs: tuple[gateway_metrics.MetricDef, ...]
                    | tuple[cloud_metrics.MetricDef, ...]) -> None:
    """Every family but the library's is declared with its type and help (so it is in the
    generated reference), and every declared one is exposed."""
    declared = {d.name: d for d in defs}
    seen = set()
    for fam in text_string_to_metric_families(text):
        if fam.name.startswith(LIBRARY_PREFIXES):
            continue
        if fam.name.endswith("_created") and fam.type == "gauge":  # the library's creation time
            base = fam.name.removesuffix("_created")           # of a counter or histogram
            assert base + "_total" in declared or base in declared, fam.name
            continue
        name = fam.name + "_total" if fam.type == "counter" else fam.name
        assert name in declared, f"{name} is exposed but not declared in DEFINITIONS"
        assert (fam.type, fam.documentation) == (declared[name].type, declared[name].help), name
        seen.add(name)
    assert seen == set(declared)


def counters(text: str) -> dict[str, float]:
    """Every monotonic sample (counters, histogram buckets, sums and counts), with labels."""
    out: dict[str, float] = {}
    for fam in text_string_to_metric_families(text):
        if fam.type not in ("counter", "histogram"):
            continue
        for s in fam.samples:
            if s.name.endswith("_created"):
                continue
            key = s.name + "{" + ",".join(f"{k}={v}" for k, v in sorted(s.labels.items())) + "}"
            out[key] = s.value
    return out


@pytest.fixture
def cloud_factory(tmp_path: Path) -> Iterator[Callable[[int], CloudProcess]]:
    made: list[CloudProcess] = []

    def make(workers: int) -> CloudProcess:
        cloud = CloudProcess(tmp_path / f"cloud{len(made)}", {"kind": "sqlite"})
        cloud.config["server"]["workers"] = workers
        cloud.write_config()
        made.append(cloud)
        cloud.start()
        return cloud

    try:
        yield make
    finally:
        for c in made:
            c.stop()


def test_both_services_pass_promtool_after_traffic(
        tmp_path: Path, mosquitto: Mosquitto,
        cloud_factory: Callable[[int], CloudProcess]) -> None:
    cloud = cloud_factory(1)
    token = cloud.create_token("gw-metrics")
    gateway = GatewayProcess.for_cloud(tmp_path / "gw", mosquitto.url, cloud.url, token,
                                       "gw-metrics")
    gateway.start()
    pub = Publisher(LOOPBACK, mosquitto.port)
    try:
        for seq in range(20):
            pub.publish(message("dev-1", seq))
        assert pub.wait_acked()
        assert wait_until(lambda: gateway.metric("iotgw_gateway_uplink_readings_total") > 0)
        g = httpx.get(f"{gateway.health_url}/metrics", timeout=5).text
        c = httpx.get(f"{cloud.url}/metrics", timeout=5).text
    finally:
        pub.close()
        gateway.stop()
    promtool_check(g)
    promtool_check(c)
    assert_declared(g, gateway_metrics.DEFINITIONS)
    assert_declared(c, cloud_metrics.DEFINITIONS)
    gm, cm = sample_totals(g), sample_totals(c)
    assert gm["iotgw_gateway_messages_received_total"] == 20
    assert gm["iotgw_gateway_uplink_auth_ok"] == 1
    assert gm["process_cpu_seconds_total"] > 0 and gm["iotgw_build_info"] == 1
    assert cm["iotgw_cloud_ingest_readings_total"] == gm["iotgw_gateway_uplink_readings_total"]
    assert cm["process_resident_memory_bytes"] > 0 and cm["iotgw_build_info"] == 1


def test_two_cloud_workers_sum_their_counters(
        cloud_factory: Callable[[int], CloudProcess]) -> None:
    cloud = cloud_factory(2)
    token = cloud.create_token("gw-w2")
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    previous: dict[str, float] = {}
    posted = 0
    pids: set[str] = set()
    for round_ in range(8):
        for i in range(5):  # a new connection each: uvicorn's workers share the socket
            body = json.dumps({"gateway_id": "gw-w2", "batch_id": f"b{round_}-{i}",
                               "readings": [{"device": "d", "sensor": "s", "value": 1.5,
                                             "ts": 1_700_000_000_000 + posted, "seq": posted}]})
            r = httpx.post(f"{cloud.url}/v1/ingest", content=body,
                           headers={**headers, "Idempotency-Key": f"k{posted}"}, timeout=10)
            assert r.status_code == 200, r.text
            posted += 1
        text = httpx.get(f"{cloud.url}/metrics", timeout=5).text
        promtool_check(text)
        now = counters(text)
        for key, value in previous.items():
            assert now.get(key, value) >= value, f"{key} went from {value} to {now.get(key)}"
        previous = now
        totals = sample_totals(text, keep_labels=True)
        assert totals['iotgw_cloud_ingest_requests_total{status="200"}'] == posted
        assert totals["iotgw_cloud_ingest_readings_total"] == posted
        pids |= {fam_sample.labels["pid"]
                 for fam in text_string_to_metric_families(text)
                 if fam.name == "process_cpu_seconds"
                 for fam_sample in fam.samples}
    assert len(pids) == 2, pids  # both workers' processes reported


def test_a_refused_token_makes_the_gateway_unready(
        tmp_path: Path, mosquitto: Mosquitto,
        cloud_factory: Callable[[int], CloudProcess]) -> None:
    cloud = cloud_factory(1)
    cloud.create_token("gw-bad")
    gateway = GatewayProcess.for_cloud(tmp_path / "gw", mosquitto.url, cloud.url,
                                       "iotgw_wrong_token", "gw-bad")
    gateway.start()  # ready: nothing was sent yet
    pub = Publisher(LOOPBACK, mosquitto.port)
    try:
        pub.publish(message("dev-1", 0))
        assert pub.wait_acked()
        assert wait_until(lambda: httpx.get(gateway.ready_url, timeout=5).status_code == 503)
        ready = httpx.get(gateway.ready_url, timeout=5).json()
        assert ready["ready"] is False and ready["checks"]["uplink_auth"] is False
        assert "token" in ready["reasons"]["uplink_auth"]
        assert "401" in ready["reasons"]["uplink_auth"]
        m = gateway.metrics()
        assert m["iotgw_gateway_uplink_auth_ok"] == 0
        assert m["iotgw_gateway_uplink_auth_failures_total"] >= 1
        assert m["iotgw_gateway_buffer_rows"] >= 1  # kept, not lost
    finally:
        pub.close()
        gateway.stop()
    gateway.config["uplink"]["token"] = cloud.create_token("gw-bad")
    gateway.config_path.write_text(gateway.config_path.read_text().replace(
        "iotgw_wrong_token", gateway.config["uplink"]["token"]))
    gateway.start()
    try:
        assert wait_until(lambda: gateway.metric("iotgw_gateway_buffer_rows") == 0)
        assert httpx.get(gateway.ready_url, timeout=5).status_code == 200
        assert gateway.metric("iotgw_gateway_uplink_auth_ok") == 1
    finally:
        gateway.stop()
