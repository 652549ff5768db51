"""Broker CPU per MQTT QoS 1 message: a 3-node NATS cluster (JetStream, MQTT streams R3)
against one Mosquitto, measured in the same run, for the capacity model in docs/scaling.md.

    python bench/broker_cpu.py                      # 20,000 messages, 2 rounds
    python bench/broker_cpu.py --messages 50000 --rounds 3

Each broker carries the gateway's load shape: one publisher sends ``--messages`` binary QoS 1
messages (5 readings each, the payloads bench/scale.py uses) while one persistent-session QoS 1
subscriber (fixed client id, clean session off, one PUBACK per message, as the gateway) takes
them from the broker. On NATS the publisher is on node 1 and the subscriber on node 0, so every
message crosses a route, and each node keeps a replica of the ``$MQTT_msgs`` stream (R3:
stored on three nodes, acknowledged by a quorum of two). The window runs from the first publish
to the last message received; the brokers' CPU (user + system, every node for NATS, from
/proc via psutil) is read at both ends. Mosquitto runs as the tests and bench/scale.py run it
(persistence on, which writes its database at the autosave interval, not per message); rounds
alternate the brokers so machine load affects both alike. CPU time is counted in 10 ms ticks:
give Mosquitto enough messages (the default) to use a few hundred of them.

Printed per broker: messages per second through it (limited by this one Python publisher and
subscriber, not by the broker), CPU-microseconds per message (in + out), messages per
CPU-second, and NATS's cost as a multiple of Mosquitto's: the factor the capacity model applies
to Mosquitto's per-core figure to count NATS cores.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import paho.mqtt.client as mqtt  # noqa: E402

from bench.scale import FLEETS, cpu_seconds, messages  # noqa: E402
from iotgw.processes import LOOPBACK  # noqa: E402
from tests.support.nats import NatsCluster, start_cluster  # noqa: E402
from tests.support.servers import Mosquitto  # noqa: E402


@dataclass
class Result:
    broker: str
    messages: int
    seconds: float
    cpu: float
    per_process: list[float]

    @property
    def us_per_message(self) -> float:
        return max(self.cpu, 0.01) / self.messages * 1e6


class Subscriber:
    """A persistent-session QoS 1 subscriber on ``sensors/#`` counting what it receives."""

    def __init__(self, port: int, client_id: str, want: int) -> None:
        self.received = 0
        self.want = want
        self._ready = threading.Event()
        self._done = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                                  clean_session=False, protocol=mqtt.MQTTv311)
        self.client.on_connect = lambda c, _u, _f, _rc, _p: c.subscribe("sensors/#", 1)
        self.client.on_subscribe = lambda *_a: self._ready.set()
        self.client.on_message = self._on_message
        self.client.connect(LOOPBACK, port, 30)
        self.client.loop_start()
        if not self._ready.wait(30):
            raise RuntimeError(f"no SUBACK from the broker on port {port}")

    def _on_message(self, _c: mqtt.Client, _u: object, _m: mqtt.MQTTMessage) -> None:
        self.received += 1
        if self.received >= self.want:
            self._done.set()

    def wait(self, timeout: float) -> bool:
        """Whether ``want`` messages arrived within ``timeout`` seconds."""
        return self._done.wait(timeout)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def measure(name: str, pub_port: int, sub_port: int, pids: list[int],
            items: list[tuple[str, bytes]], timeout: float) -> Result:
    sub = Subscriber(sub_port, f"bench-broker-cpu-{name}-{time.time_ns()}", len(items))
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{time.time_ns()}",
                      protocol=mqtt.MQTTv311)
    pub.max_inflight_messages_set(200)
    pub.connect(LOOPBACK, pub_port, 30)
    pub.loop_start()
    try:
        time.sleep(0.5)  # let the session's consumer settle
        cpu0, t0 = [cpu_seconds([p]) for p in pids], time.perf_counter()
        for topic, payload in items:
            pub.publish(topic, payload, qos=1)
        if not sub.wait(timeout):
            raise RuntimeError(f"{name}: {sub.received} of {len(items)} messages arrived")
        t1, cpu1 = time.perf_counter(), [cpu_seconds([p]) for p in pids]
    finally:
        pub.disconnect()
        pub.loop_stop()
        sub.close()
    per = [b - a for a, b in zip(cpu0, cpu1, strict=True)]
    return Result(name, len(items), t1 - t0, sum(per), per)


def nats_pids(cluster: NatsCluster) -> list[int]:
    return [p for p in (n.pid for n in cluster.nodes) if p is not None]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=600.0)
    args = ap.parse_args(argv)
    items = messages(args.messages, seed=1)
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="iotgw-broker-cpu-") as tmp:
        work = Path(tmp)
        mosquitto = Mosquitto(work / "mosquitto", extra_config="max_inflight_messages 1000")
        mosquitto.start()
        cluster = start_cluster(work / "nats")
        try:
            for r in range(args.rounds):
                print(f"round {r + 1}: mosquitto ...", flush=True)
                pid = mosquitto.pid
                assert pid is not None
                results.append(measure("mosquitto", mosquitto.port, mosquitto.port, [pid],
                                       items, args.timeout))
                print(f"round {r + 1}: nats R3 ...", flush=True)
                results.append(measure("nats-r3", cluster.nodes[1].mqtt_port,
                                       cluster.nodes[0].mqtt_port, nats_pids(cluster), items,
                                       args.timeout))
        finally:
            mosquitto.kill()
            cluster.kill()
    report(results)
    return 0


def report(results: list[Result]) -> None:
    print(f"\n{'broker':<11}{'messages':>10}{'msg/s':>9}{'CPU s':>8}{'CPU-us/msg':>12}"
          f"{'msg/CPU-s':>11}  busiest process")
    for r in results:
        print(f"{r.broker:<11}{r.messages:>10,}{r.messages / r.seconds:>9,.0f}{r.cpu:>8.2f}"
              f"{r.us_per_message:>12.1f}{1e6 / r.us_per_message:>11,.0f}"
              f"  {max(r.per_process) / max(r.cpu, 0.01):.0%} of the CPU")
    per = {name: statistics.median(r.us_per_message for r in results if r.broker == name)
           for name in ("mosquitto", "nats-r3")}
    print(f"\nmedian CPU per QoS 1 message (in + out): mosquitto {per['mosquitto']:.1f} us, "
          f"NATS R3 cluster {per['nats-r3']:.1f} us (all three nodes)")
    print(f"NATS R3 / Mosquitto: {per['nats-r3'] / per['mosquitto']:.1f}x the CPU per message "
          f"({1e6 / per['nats-r3']:,.0f} messages per CPU-second of the cluster)")
    share = statistics.median(max(r.per_process) / max(r.cpu, 0.01)
                              for r in results if r.broker == "nats-r3")
    print_model(per["nats-r3"], share)


def print_model(us_per_message: float, leader_share: float, interval_s: float = 10.0,
                headroom: float = 0.6) -> None:
    """NATS cores for the capacity model's fleets (one message per device every
    ``interval_s``, brokers at ``headroom`` CPU): the cluster in total, and the busiest node
    (the ``$MQTT_msgs`` stream leader: one stream per account takes every QoS 1 message)."""
    print(f"\nNATS R3 cores, one message per device every {interval_s:g} s, at "
          f"{headroom:.0%} CPU (busiest node: {leader_share:.0%} of the cluster's CPU)")
    print(f"{'devices':>12}{'msg/s':>11}{'cluster':>9}{'busiest node':>14}")
    for devices in FLEETS:
        msgs = devices / interval_s
        cores = msgs * us_per_message / 1e6 / headroom
        print(f"{devices:>12,}{msgs:>11,.0f}{math.ceil(cores):>9}"
              f"{math.ceil(cores * leader_share):>14}")


if __name__ == "__main__":
    sys.exit(main())
