"""Simulator publish rate against a bare paho-mqtt publish loop, on the same real Mosquitto.

    python bench/sim_publish.py                 # ~5 s: 5,000 QoS 1 messages each way
    python bench/sim_publish.py --count 50000   # longer run
    python bench/sim_publish.py --qos 0 --format binary

Baseline: one paho client (``loop_start``), publishing the same number of pre-encoded JSON
payloads of the same size at the same QoS, waiting on a publish every 1,000 to bound in-flight
messages, then waiting for every PUBACK. The simulator run is ``iotgw sim run --rate 0`` (as
fast as the broker takes them) with signals, encoding and manifest writing included. Printed:
both rates (messages/s, PUBACK included) and their ratio.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import paho.mqtt.client as mqtt

from iotgw.cli import main as iotgw
from simulators.manifest import read_manifest
from tests.support.servers import Mosquitto


def bare_loop(host: str, port: int, payloads: list[bytes], qos: int) -> float:
    """Messages per second of a plain paho publish loop (every PUBACK awaited)."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-bare")
    client.max_inflight_messages_set(200)
    client.connect(host, port)
    client.loop_start()
    try:
        start = time.perf_counter()
        infos = []
        for i, payload in enumerate(payloads):
            infos.append(client.publish(f"sensors/bench/dev-{i % 10:04d}/json", payload, qos))
            if i % 1000 == 999:
                infos[-1000].wait_for_publish(30)
        for info in infos:
            info.wait_for_publish(30)
        return len(payloads) / (time.perf_counter() - start)
    finally:
        client.disconnect()
        client.loop_stop()


def simulator(url: str, count: int, qos: int, fmt: str, manifest: Path) -> tuple[float, int]:
    """Messages per second of ``iotgw sim run`` and the size of one payload's readings."""
    start = time.perf_counter()
    code = iotgw(["sim", "run", "--broker", url, "--devices", "10", "--count", str(count),
                  "--rate", "0", "--qos", str(qos), "--format", fmt, "--manifest", str(manifest)])
    elapsed = time.perf_counter() - start
    if code != 0:
        raise SystemExit(f"iotgw sim run exited with {code}")
    return count / elapsed, sum(1 for _ in read_manifest(manifest))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=5000, help="messages per run (default 5000)")
    parser.add_argument("--qos", type=int, choices=(0, 1), default=1)
    parser.add_argument("--format", default="json")
    args = parser.parse_args()
    from firmware_protocol.codecs import get_codec
    from firmware_protocol.model import Message, Reading

    sample = Message("dev-0000", 1, 1_700_000_000_000, tuple(
        Reading(n, 21.25, unit=u) for n, u in
        [("temperature", "Cel"), ("vibration", "m/s2"), ("pressure", "Pa"),
         ("humidity", "%RH"), ("current", "A")]))
    payload = get_codec(args.format).encode(sample)
    with tempfile.TemporaryDirectory() as tmp:
        broker = Mosquitto(Path(tmp) / "mosquitto")
        broker.start()
        try:
            base = bare_loop(broker.host, broker.port, [payload] * args.count, args.qos)
            sim, lines = simulator(broker.url, args.count, args.qos, args.format,
                                   Path(tmp) / "m.jsonl")
        finally:
            broker.kill()
    print(f"messages: {args.count}, QoS {args.qos}, format {args.format}, "
          f"payload ~{len(payload)} bytes, manifest lines {lines}")
    print(f"bare paho loop : {base:10.0f} msg/s")
    print(f"iotgw sim run  : {sim:10.0f} msg/s (signals, encoding, manifest included)")
    print(f"ratio sim/bare : {sim / base:10.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
