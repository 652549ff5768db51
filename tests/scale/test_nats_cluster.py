"""The gateway against a real 3-node NATS cluster (JetStream, MQTT streams replicated R3).

Simulators publish to other nodes than the one the gateway reads from; every scenario ends with
the manifest reconciliation of the end-to-end suite: nothing acknowledged lost, nothing stored
twice. Nodes are killed with SIGKILL (a crash), one at a time or all together.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from iotgw.processes import LOOPBACK
from tests.conftest import InfluxDatabase
from tests.scale.conftest import connected_node, keep_work_folder, lost_ranges, merge_manifests
from tests.support.delivery_trace import delivered_to_gateway, explain_losses
from tests.support.nats import NatsCluster, msgs_consumers, msgs_leader
from tests.support.nats_witness import NatsWitness, nats_request
from tests.support.reconcile import wait_until
from tests.support.stack import Simulation, Stack

pytestmark = [pytest.mark.integration]

GATEWAY_ID = "gw-nats"
CLIENT_ID = f"iotgw-{GATEWAY_ID}"


@pytest.fixture
def nats_stack(tmp_path: Path, nats_cluster: NatsCluster,
               influxdb: InfluxDatabase) -> Iterator[Stack]:
    """Cloud + gateway whose broker list is the cluster's three MQTT listeners; the gateway
    logs at DEBUG, so its intake traces every message it receives (a loss then says whether
    the message reached the gateway)."""
    stack = Stack(tmp_path / "stack", nats_cluster.nodes[0], influxdb.server,  # type: ignore[arg-type]
                  influxdb.database, gateway_id=GATEWAY_ID,
                  gateway={"mqtt": {"urls": nats_cluster.urls, "protocol": "3.1.1"},
                           "log": {"level": "DEBUG"}})
    try:
        yield stack.start()
    finally:
        stack.stop()


@pytest.fixture
def witnesses(nats_cluster: NatsCluster) -> Iterator[list[NatsWitness]]:
    """A core NATS subscriber on every node, recording the MQTT publishes the cluster got."""
    started = [NatsWitness(n.client_port, name=f"witness-{n.name}").start()
               for n in nats_cluster.nodes]
    try:
        yield started
    finally:
        for w in started:
            w.stop()


def sims(stack: Stack, cluster: NatsCluster, nodes: tuple[int, int], count: int,
         rate: float, **options: Any) -> list[Simulation]:
    """Two simulators on two nodes with disjoint readings: different sensors, sites and
    device names (one gateway dedups by device and seq, and the cloud gives a device name to
    one gateway, so two fleets must not share names)."""
    out = []
    for k, (node, sensors) in enumerate(zip(nodes, ("temperature,vibration,pressure",
                                                    "humidity,current"), strict=True)):
        sim = stack.simulation(devices=8, rate=rate, count=count, format="binary",
                               sensors=sensors, site=f"site-{k}", seed=k + 1,
                               device_prefix=f"site{k}-", **options)
        sim.broker_url = cluster.nodes[node].url
        out.append(sim.start())
    return out


def finish(stack: Stack, cluster: NatsCluster, running: list[Simulation], tmp_path: Path,
           timeout: float = 120.0, open_loss: str | None = None,
           witnesses: Sequence[NatsWitness] = (), unacked_ok: bool = False) -> None:
    """Reconcile the simulators' merged manifests with InfluxDB. ``open_loss`` names a known
    loss of the broker's: readings lost before they reached the gateway (and only those) then
    mark the test xfailed with the full report instead of failing it; a reading lost after
    the gateway's intake received it, a duplicate or a wrong value still fails. With
    ``unacked_ok`` a simulator may end with publishes the cluster never acknowledged (exit 1):
    the promise is about acknowledged readings, which are reconciled all the same.
    A loss's report says, per lost message, whether the gateway's intake received it (its
    trace) and whether a witness saw the cluster receive it, and the run's work folder
    (manifests, gateway log and databases, NATS logs and stores) is kept."""
    for sim in running:
        if not unacked_ok:
            sim.wait(180)
            continue
        assert sim.child is not None
        code = sim.child.wait(180)
        if code not in (0, 1):  # 1: some publishes unacknowledged; 3: the cluster went silent
            raise sim.child.fail(f"exited {code}")
    manifest = merge_manifests([s.manifest for s in running], tmp_path / "all.jsonl")
    rec = stack.delivered(manifest, timeout=timeout)
    assert rec.expected > 0, rec.summary()
    report = (rec.summary() + "\nlost per device: " + lost_ranges(rec.lost) + "\n"
              + cluster.stream_report() + "\n" + stack.diagnostics() + cluster.log_tails())
    ours: list[tuple[str, int]] = []
    if rec.lost:
        ours = delivered_to_gateway(rec.lost, stack.gw.log_path)
        for w in witnesses:
            w.dump(tmp_path / f"{w.name}.txt")
        gw = stack.gw
        outcomes = {k: v for k, v in gw.metrics_by_label().items()
                    if k.startswith(("iotgw_gateway_messages_total",
                                     "iotgw_gateway_dead_letters_total",
                                     "iotgw_gateway_dropped_readings_total"))}
        report = (explain_losses(rec.lost, gw.log_path, witnesses,
                                 Path(gw.config["gateway"]["data_dir"]) / "gateway.db")
                  + f"\ngateway outcomes: {outcomes}\nwork folder kept in "
                  + f"{keep_work_folder(tmp_path)}\n" + cluster.jetstream_events() + "\n"
                  + report)
    if (open_loss and rec.lost and not ours
            and not (rec.duplicated or rec.unexpected or rec.wrong_value)):
        pytest.xfail(f"{open_loss}\n{report}")
    assert not ours, f"lost after the gateway received them: {ours}\n{report}"
    assert rec.ok, report


def test_the_gateway_reads_through_the_cluster(nats_stack: Stack, nats_cluster: NatsCluster,
                                               tmp_path: Path) -> None:
    assert wait_until(lambda: connected_node(nats_cluster, CLIENT_ID) == 0, 20)
    finish(nats_stack, nats_cluster, sims(nats_stack, nats_cluster, (1, 2), 600, 200),
           tmp_path, timeout=60)


@pytest.mark.faults
def test_killing_the_gateways_node_moves_it_to_another(nats_stack: Stack,
                                                       nats_cluster: NatsCluster,
                                                       tmp_path: Path) -> None:
    assert wait_until(lambda: connected_node(nats_cluster, CLIENT_ID) == 0, 20)
    running = sims(nats_stack, nats_cluster, (1, 2), 3000, 200)
    assert wait_until(lambda: nats_stack.gw.received() > 300, 30)
    nats_cluster.nodes[0].kill()
    assert wait_until(lambda: connected_node(nats_cluster, CLIENT_ID) in (1, 2), 60), (
        nats_stack.diagnostics())
    received = nats_stack.gw.received()
    assert wait_until(lambda: nats_stack.gw.received() > received + 300, 60)
    nats_cluster.nodes[0].start()  # back to three replicas for the rest of the run
    finish(nats_stack, nats_cluster, running, tmp_path)


#: NATS 2.9.10 can acknowledge a QoS 1 publish and never deliver it after a kill -9 of every
#: node (a replica skipping a message under a miscounted sequence, fixed by nats-server#4365;
#: docs/scaling.md, "A whole-cluster restart: what NATS does").
CLUSTER_RESTART_LOSS = ("NATS 2.9.10 after a whole-cluster kill -9: acknowledged readings that "
                        "never reached the gateway (per lost message below: the gateway's trace, "
                        "the cluster's witnesses, each node's stream events)")


@pytest.mark.faults
def test_killing_a_simulators_node(nats_stack: Stack, nats_cluster: NatsCluster,
                                   tmp_path: Path) -> None:
    running = sims(nats_stack, nats_cluster, (1, 2), 3000, 200)
    assert wait_until(lambda: running[0].acknowledged_lines() > 300, 30)
    nats_cluster.nodes[1].kill()
    time.sleep(3)
    nats_cluster.nodes[1].start()  # the simulator retries the same node until it is back
    finish(nats_stack, nats_cluster, running, tmp_path)


@pytest.mark.faults
def test_restarting_the_whole_cluster(nats_stack: Stack, nats_cluster: NatsCluster,
                                      witnesses: list[NatsWitness], tmp_path: Path) -> None:
    # The restarted cluster elects its JetStream leaders before it acknowledges again: the
    # simulators wait for that (a CI run saw 557 of 3,000 publishes still unanswered after 30 s).
    running = sims(nats_stack, nats_cluster, (1, 2), 3000, 200, ack_timeout=90)
    assert wait_until(lambda: nats_stack.gw.received() > 500, 30)
    # Every node must hold the gateway's consumers before the crash: a node that restarts
    # without one and leads the stream acknowledges publishes and drops them (a NATS hazard of
    # a consumer created moments before a whole-cluster crash; docs/scaling.md).
    assert wait_until(nats_cluster.consumers_on_every_node, 30), nats_cluster.stream_report()
    nats_cluster.kill()
    time.sleep(2)
    nats_cluster.start()
    finish(nats_stack, nats_cluster, running, tmp_path, open_loss=CLUSTER_RESTART_LOSS,
           witnesses=witnesses, unacked_ok=True)


def _client(client_id: str, clean: bool) -> Any:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    return mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean,
                       protocol=mqtt.MQTTv311)


def _lead_the_stream(cluster: NatsCluster, index: int) -> bool:
    """Step the ``$MQTT_msgs`` leader down until node ``index`` leads it (two nodes up)."""
    node = cluster.nodes[index]
    leader = msgs_leader(node)
    if leader == f"n{index}":
        return True
    if leader is not None:
        nats_request(node.client_port, "$JS.API.STREAM.LEADER.STEPDOWN.$MQTT_msgs")
    return False


@pytest.mark.faults
def test_a_restarted_stream_leader_without_the_sessions_consumer_drops_what_it_acks(
        nats_cluster: NatsCluster) -> None:
    """docs/scaling.md: NATS 2.9 keeps MQTT QoS 1 messages in an interest-retention stream. A
    node that missed the creation of a persistent session's consumer (down, or behind, when the
    subscriber subscribed), restarted with the cluster and leading the stream, acknowledges QoS
    1 publishes and stores nothing: they never reach the subscriber. A race: it skips, saying
    so, in a run where every publish arrived; if it always skips, update the docs."""
    cluster = nats_cluster
    cluster.nodes[2].kill()  # n2 misses the consumer's creation
    subscribed = threading.Event()
    sub = _client("hazard-sub", clean=False)
    sub.on_connect = lambda c, *_a: c.subscribe("sensors/#", 1)
    sub.on_subscribe = lambda *_a: subscribed.set()
    sub.connect(LOOPBACK, cluster.nodes[0].mqtt_port)
    sub.loop_start()
    assert subscribed.wait(30)
    if not wait_until(lambda: msgs_consumers(cluster.nodes[0]) and
                      msgs_consumers(cluster.nodes[0]) == msgs_consumers(cluster.nodes[1]), 30):
        # Seen once in CI: the two nodes had not agreed on the consumer in 30 s.
        pytest.skip("nodes 0 and 1 did not both hold the session's consumer within 30 s: "
                    "the scenario could not be set up")
    sub.disconnect()
    sub.loop_stop()
    cluster.nodes[0].kill()
    cluster.nodes[1].kill()
    cluster.nodes[2].start()
    cluster.nodes[1].start()  # a quorum; n2 has no consumer on disk
    if not wait_until(lambda: _lead_the_stream(cluster, 2), 60, interval=2.0):
        pytest.skip("node 2 could not be made to lead the stream within 60 s: "
                    + cluster.stream_report())

    acked: set[int] = set()
    pub = _client(f"hazard-pub-{time.time_ns()}", clean=True)
    pub.on_publish = lambda _c, _u, mid, _rc, _p: acked.add(mid)
    pub.connect(LOOPBACK, cluster.nodes[2].mqtt_port)
    pub.loop_start()
    mids = {pub.publish(f"sensors/s/d{i}/binary", b"%d" % i, qos=1).mid for i in range(20)}
    try:
        served = wait_until(lambda: acked >= mids, 60)
    finally:
        pub.disconnect()
        pub.loop_stop()
    if not served:
        # Also seen standalone (docs/scaling.md): a cluster restarted this way may not answer
        # QoS 1 publishes for a minute. Then nothing was acknowledged, so there is nothing
        # this test can check; it says so rather than pass or fail on it.
        pytest.skip(f"the restarted cluster acknowledged {len(acked & mids)} of 20 publishes "
                    "in 60 s: the scenario did not reach the state it pins")

    cluster.nodes[0].start()
    received: list[bytes] = []
    sub = _client("hazard-sub", clean=False)
    sub.on_connect = lambda c, *_a: c.subscribe("sensors/#", 1)
    sub.on_message = lambda _c, _u, m: received.append(m.payload)
    sub.connect(LOOPBACK, cluster.nodes[0].mqtt_port)
    sub.loop_start()
    try:
        time.sleep(10)  # waiting for nothing: the stream kept none of the 20
    finally:
        sub.disconnect()
        sub.loop_stop()
    if len(received) == 20:
        # Seen in a fresh-clone CI run: the drop is a race inside NATS 2.9.10 (how soon the
        # restarted leader recovers the session's consumer), not certain. This run did not
        # reproduce it; should every run skip here, NATS no longer does it: update the docs.
        pytest.skip("every acknowledged publish arrived this run: the drop docs/scaling.md "
                    "describes did not happen (it is a race on NATS 2.9.10)")
    assert len(received) < 20


def test_the_mqtt_limits_of_nats_are_as_documented(nats_cluster: NatsCluster) -> None:
    """docs/scaling.md: no MQTT 5, QoS 2 subscriptions granted QoS 1 (so the gateway uses
    3.1.1 and QoS 1 against NATS)."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    port = nats_cluster.nodes[0].mqtt_port
    seen: dict[str, object] = {}

    def connect(protocol: int, name: str) -> mqtt.Client:
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"limits-{name}",
                        protocol=protocol)
        c.on_connect = lambda _c, _u, _f, rc, _p: seen.setdefault(f"{name}-connack", str(rc))
        c.on_subscribe = lambda _c, _u, _m, rcs, _p: seen.setdefault(
            f"{name}-suback", [str(r) for r in rcs])
        c.connect("127.0.0.1", port)
        c.loop_start()
        return c

    v5 = connect(mqtt.MQTTv5, "v5")
    v311 = connect(mqtt.MQTTv311, "v311")
    try:
        assert wait_until(lambda: {"v5-connack", "v311-connack"} <= set(seen), 10), seen
        v311.subscribe("limits/x", 2)
        assert wait_until(lambda: "v311-suback" in seen, 10), seen
    finally:
        for c in (v5, v311):
            c.disconnect()
            c.loop_stop()
    assert seen["v5-connack"] == "Unsupported protocol version"
    assert seen["v311-connack"] == "Success" and seen["v311-suback"] == ["Granted QoS 1"]
