"""Gateway intake rate against a do-nothing paho-mqtt QoS 1 subscriber, on the same Mosquitto.

    python bench/gateway_intake.py                   # ~20 s: 20,000 messages each way
    python bench/gateway_intake.py --count 100000    # longer run
    python bench/gateway_intake.py --durability power-loss

Both consumers read the same pre-loaded backlog: a persistent session is created, the
consumer disconnects, ``count`` JSON messages (1,000 devices x 5 sensors) are published to the
broker at QoS 1, then the consumer comes back and drains them. Rates are measured from the
first message to the last, for both, with the same MQTT version and Receive Maximum.

- Baseline: a paho-mqtt client that acknowledges on receipt and does nothing else: the ceiling
  for a Python consumer on this broker.
- Gateway: ``iotgw gateway run`` as a child process: decode, validate, de-duplicate, group
  commit into SQLite (WAL, durability as given) and PUBACK only after the commit. Its uplink
  points at a closed port, so every reading stays buffered (for the disk figure).

Printed: both rates, the ratio (target >= 0.8), the gateway's resident memory after the run
(target <= 80 MB with detectors off) and bytes on disk per buffered reading.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import paho.mqtt.client as mqtt
import psutil
import tomli_w
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from firmware_protocol.codecs import get_codec
from firmware_protocol.model import Message, Reading
from tests.support.servers import Mosquitto, free_port

SENSORS = ("temperature", "vibration", "pressure", "humidity", "current")


def payloads(count: int, devices: int) -> list[tuple[str, bytes]]:
    codec = get_codec("json")
    out = []
    for i in range(count):
        dev, seq = f"dev-{i % devices:04d}", i // devices
        msg = Message(dev, seq, 1_700_000_000_000 + seq * 1000,
                      tuple(Reading(s, 20.0 + (i * 7 + k) % 13 / 3) for k, s in enumerate(SENSORS)))
        out.append((f"sensors/site-1/{dev}/json", codec.encode(msg)))
    return out


def preload(broker: Mosquitto, items: list[tuple[str, bytes]]) -> None:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-pub")
    client.max_inflight_messages_set(500)
    client.connect(broker.host, broker.port)
    client.loop_start()
    last = None
    for i, (topic, payload) in enumerate(items):
        last = client.publish(topic, payload, qos=1)
        if i % 2000 == 1999:
            last.wait_for_publish(30)
    if last is not None:
        last.wait_for_publish(30)
    client.disconnect()
    client.loop_stop()


def v5_connect(client: mqtt.Client, broker: Mosquitto, receive_max: int) -> None:
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 3600
    props.ReceiveMaximum = receive_max
    client.connect(broker.host, broker.port, clean_start=False, properties=props)


def baseline(broker: Mosquitto, items: list[tuple[str, bytes]], receive_max: int) -> float:
    """Messages/s of a do-nothing QoS 1 subscriber draining the backlog."""
    n = len(items)
    state = {"count": 0, "first": 0.0, "last": 0.0}
    done = threading.Event()

    def on_message(_c: object, _u: object, _m: object) -> None:
        if state["count"] == 0:
            state["first"] = time.perf_counter()
        state["count"] += 1
        if state["count"] >= n:
            state["last"] = time.perf_counter()
            done.set()

    def on_connect(c: mqtt.Client, *_a: object) -> None:
        c.subscribe("sensors/#", qos=1)

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-base",
                         protocol=mqtt.MQTTv5)
    client.on_connect = on_connect
    v5_connect(client, broker, receive_max)
    client.loop_start()
    time.sleep(0.5)
    client.disconnect()
    client.loop_stop()
    preload(broker, items)
    client.on_message = on_message
    v5_connect(client, broker, receive_max)
    client.loop_start()
    done.wait(600)
    client.disconnect()
    client.loop_stop()
    return (n - 1) / (state["last"] - state["first"])


def metric(port: int, name: str, **labels: str) -> float:
    """One sample of the gateway's /metrics (0 when absent)."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and s.labels == labels:
                return float(s.value)
    return 0.0


def start_gateway(config: Path, port: int, log: Path) -> psutil.Popen:
    import subprocess

    proc = psutil.Popen([sys.executable, "-m", "iotgw.cli", "gateway", "run", "--config",
                         str(config)], stdout=log.open("ab"), stderr=subprocess.STDOUT,
                        cwd=Path(__file__).resolve().parents[1])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1):
                return proc
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"gateway did not become ready: {log.read_text()[-2000:]}")


def gateway(broker: Mosquitto, items: list[tuple[str, bytes]], tmp: Path, receive_max: int,
            durability: str, commit_max: int, worker: bool) -> tuple[float, float, float]:
    """(messages/s, RSS bytes at the end, bytes on disk per buffered reading)."""
    n = len(items)
    port = free_port()
    cfg = {
        "gateway": {"id": "bench", "data_dir": str(tmp / "gw")},
        "mqtt": {"url": broker.url, "protocol": "5", "receive_maximum": receive_max,
                 "commit_max_messages": commit_max, "decode_worker": worker},
        "buffer": {"durability": durability},
        "uplink": {"url": f"http://127.0.0.1:{free_port()}", "breaker_reset_s": 600,
                   "retry_min_s": 600, "retry_max_s": 600},
        "health": {"port": port},
        "log": {"level": "WARNING"},
        "detect": {"enabled": False},
    }
    config = tmp / "gateway.toml"
    config.write_bytes(tomli_w.dumps(cfg).encode())
    log = tmp / "gateway.log"
    proc = start_gateway(config, port, log)  # creates the session and the subscription
    proc.terminate()
    proc.wait(30)
    preload(broker, items)
    proc = start_gateway(config, port, log)
    first_t, first_n = 0.0, 0.0
    while True:
        got = metric(port, "iotgw_gateway_messages_total", outcome="buffered")
        now = time.perf_counter()
        if got > 0 and not first_t:
            first_t, first_n = now, got
        if got >= n:
            break
        time.sleep(0.02)
    rate = (n - first_n) / (now - first_t)
    rss = proc.memory_info().rss + sum(c.memory_info().rss for c in proc.children())
    proc.terminate()
    proc.wait(60)
    db = tmp / "gw" / "gateway.db"
    disk = sum(p.stat().st_size for p in db.parent.glob("gateway.db*"))
    return rate, rss, disk / (n * len(SENSORS))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=20_000, help="messages (default 20,000)")
    ap.add_argument("--devices", type=int, default=1000)
    ap.add_argument("--receive-maximum", type=int, default=4000,
                    help="MQTT 5 Receive Maximum and Mosquitto max_inflight_messages (4000)")
    ap.add_argument("--commit-max", type=int, default=1000, help="mqtt.commit_max_messages")
    ap.add_argument("--worker", action="store_true",
                    help="mqtt.decode_worker = true: decode in a second process")
    ap.add_argument("--durability", choices=("process", "power-loss"), default="process")
    args = ap.parse_args()
    items = payloads(args.count, args.devices)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        extra = f"max_inflight_messages {args.receive_maximum}"
        broker = Mosquitto(tmp / "mq-base", extra_config=extra)
        broker.start()
        try:
            base = baseline(broker, items, args.receive_maximum)
        finally:
            broker.kill()
        broker = Mosquitto(tmp / "mq-gw", extra_config=extra)
        broker.start()
        try:
            rate, rss, per_reading = gateway(broker, items, tmp, args.receive_maximum,
                                             args.durability, args.commit_max,
                                             args.worker)
        finally:
            broker.kill()
    print(f"messages: {args.count} from {args.devices} devices x {len(SENSORS)} sensors "
          f"(MQTT 5, Receive Maximum {args.receive_maximum}, durability {args.durability}, "
          f"commit_max_messages {args.commit_max}, decode worker {args.worker})")
    print(f"baseline  do-nothing paho QoS 1 subscriber: {base:10,.0f} msg/s")
    print(f"gateway   commit-then-PUBACK intake:        {rate:10,.0f} msg/s "
          f"({rate * len(SENSORS):,.0f} readings/s)")
    print(f"ratio gateway/baseline: {rate / base:.2f}  (target >= 0.8)")
    print(f"gateway RSS after the run (process + decode worker, if any): {rss / 2**20:.1f} MB  "
          "(target <= 80 MB)")
    print(f"bytes on disk per buffered reading: {per_reading:.0f}")


if __name__ == "__main__":
    main()
