"""Simulator publish rate against a bare paho-mqtt publish loop, on the same real Mosquitto.

    python bench/sim_publish.py                 # ~5 s: 5,000 QoS 1 messages each way
    python bench/sim_publish.py --count 50000   # longer run
    python bench/sim_publish.py --qos 0 --format binary
    python bench/sim_publish.py --count 100000 --processes 1,2,4   # the multi-process simulator

Baseline: one paho client (``loop_start``), publishing the same number of pre-encoded JSON
payloads of the same size at the same QoS, waiting on a publish every 1,000 to bound in-flight
messages, then waiting for every PUBACK. The simulator run is ``iotgw sim run --rate 0`` (as
fast as the broker takes them) with signals, encoding and manifest writing included. Printed:
both rates (messages/s, PUBACK included) and their ratio. With ``--processes 1,2,...`` the
simulator runs once per value (``iotgw sim run --processes N``, devices split between N
processes); each line also gives the CPU time the simulator's processes and the broker used
per message, which says where a shared machine's cores go.
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import paho.mqtt.client as mqtt
import psutil

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


def _cpu(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return float(t.user + t.system)


def simulator(broker: Mosquitto, count: int, qos: int, fmt: str, manifest: Path,
              processes: int) -> tuple[float, int, float, float]:
    """``iotgw sim run``: messages/s, manifest lines, CPU s of the simulator and of the broker.

    Runs as a child process (so its CPU, children included, can be measured); the rate counts
    from its start, interpreter start-up included.
    """
    assert broker.pid is not None
    mosq = psutil.Process(broker.pid)
    mosq_before = _cpu(mosq)
    start = time.perf_counter()
    proc = psutil.Popen([sys.executable, "-m", "iotgw.cli", "sim", "run", "--broker", broker.url,
                         "--devices", "100", "--count", str(count), "--rate", "0", "--qos",
                         str(qos), "--format", fmt, "--processes", str(processes),
                         "--manifest", str(manifest)], stdout=subprocess.DEVNULL)
    cpu = 0.0
    while proc.poll() is None:
        with contextlib.suppress(psutil.Error):
            cpu = max(cpu, _cpu(proc) + sum(_cpu(c) for c in proc.children(recursive=True)))
        time.sleep(0.05)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"iotgw sim run exited with {proc.returncode}")
    return (count / elapsed, sum(1 for _ in read_manifest(manifest)), cpu,
            _cpu(mosq) - mosq_before)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=5000, help="messages per run (default 5000)")
    parser.add_argument("--qos", type=int, choices=(0, 1), default=1)
    parser.add_argument("--format", default="json")
    parser.add_argument("--processes", default="1",
                        help="comma-separated --processes values to run (default 1)")
    args = parser.parse_args()
    from firmware_protocol.codecs import get_codec
    from firmware_protocol.model import Message, Reading

    sample = Message("dev-0000", 1, 1_700_000_000_000, tuple(
        Reading(n, 21.25, unit=u) for n, u in
        [("temperature", "Cel"), ("vibration", "m/s2"), ("pressure", "Pa"),
         ("humidity", "%RH"), ("current", "A")]))
    payload = get_codec(args.format).encode(sample)
    runs = [int(p) for p in args.processes.split(",") if p.strip()]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        broker = Mosquitto(Path(tmp) / "mosquitto")
        broker.start()
        try:
            base = bare_loop(broker.host, broker.port, [payload] * args.count, args.qos)
            for n in runs:
                results.append((n, *simulator(broker, args.count, args.qos, args.format,
                                              Path(tmp) / f"m{n}.jsonl", n)))
        finally:
            broker.kill()
    print(f"messages: {args.count}, QoS {args.qos}, format {args.format}, "
          f"payload ~{len(payload)} bytes, 100 devices")
    print(f"bare paho loop          : {base:10.0f} msg/s")
    for n, rate, lines, cpu, broker_cpu in results:
        print(f"iotgw sim --processes {n:<2}: {rate:10.0f} msg/s  ratio {rate / base:5.2f}  "
              f"(manifest lines {lines}; CPU per message: simulator {cpu * 1e6 / args.count:.0f} "
              f"us, broker {broker_cpu * 1e6 / args.count:.1f} us)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
