"""Gateway intake rate against a do-nothing paho-mqtt QoS 1 subscriber, on the same Mosquitto.

    python bench/gateway_intake.py                   # detectors on and off, MQTT 3.1.1 and 5
    python bench/gateway_intake.py --count 40000 --repeat 3
    python bench/gateway_intake.py --durability process   # the opt-out, for its cost
    python bench/gateway_intake.py --format binary        # binary frames instead of JSON

Every consumer reads the same pre-loaded backlog: a persistent session is created, the
consumer disconnects, ``count`` messages (JSON, or ``--format``'s codec; 1,000 devices x 5
sensors = 5,000 streams) are published to the broker at QoS 1, then the consumer comes back
and drains them. Rates are measured from the first message to the last, with the same MQTT
version and Receive Maximum.

- Baseline: a paho-mqtt client that acknowledges on receipt and does nothing else: the ceiling
  for a Python consumer on this broker (measured per MQTT version, in the same run).
- Gateway: ``iotgw gateway run`` as a child process with its default configuration (durability
  ``power-loss``: one fsync per group commit) unless told otherwise. **Acknowledged** is the
  rate at which messages are appended to the intake log and PUBACKed (what the broker and the
  devices see); **processed** is the rate from the first acknowledgement until the processing
  stage has decoded, de-duplicated, scored and buffered the last one (the sustained rate). Its
  uplink points at a closed port, so every reading stays buffered (for the disk figure).
  **Stage CPU** is the processing thread's CPU time per message
  (``iotgw_gateway_process_cpu_seconds_total``): less noisy than a rate on a shared machine.

Printed per mode: both rates, the ratio acknowledged/baseline (target >= 0.8 with detectors on,
goal >= 1.0), the gateway's resident memory once everything is processed (target <= 60 MB with
5,000 streams and detectors on) and bytes on disk per buffered reading.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import paho.mqtt.client as mqtt
import psutil
import tomli_w
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from firmware_protocol.codecs import CODEC_NAMES, get_codec
from firmware_protocol.model import Message, Reading
from tests.support.servers import Mosquitto, free_port

SENSORS = ("temperature", "vibration", "pressure", "humidity", "current")


def payloads(count: int, devices: int, fmt: str = "json") -> list[tuple[str, bytes]]:
    codec = get_codec(fmt)
    out = []
    for i in range(count):
        dev, seq = f"dev-{i % devices:04d}", i // devices
        msg = Message(dev, seq, 1_700_000_000_000 + seq * 1000,
                      tuple(Reading(s, 20.0 + (i * 7 + k) % 13 / 3) for k, s in enumerate(SENSORS)))
        out.append((f"sensors/site-1/{dev}/{fmt}", codec.encode(msg)))
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


def baseline(broker: Mosquitto, items: list[tuple[str, bytes]], receive_max: int,
             protocol: str = "5") -> float:
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

    v5 = protocol == "5"
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-base",
                         protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
                         clean_session=None if v5 else False)
    client.on_connect = on_connect

    def connect() -> None:
        if v5:
            v5_connect(client, broker, receive_max)
        else:
            client.connect(broker.host, broker.port)

    connect()
    client.loop_start()
    time.sleep(0.5)
    client.disconnect()
    client.loop_stop()
    preload(broker, items)
    client.on_message = on_message
    connect()
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


def gateway(broker: Mosquitto, items: list[tuple[str, bytes]], tmp: Path, args: Any,
            protocol: str, detectors: bool) -> dict[str, float]:
    """Acknowledged and processed msg/s, RSS bytes at the end, disk bytes per reading."""
    n = len(items)
    port = free_port()
    data = tmp / f"gw-{protocol}-{detectors}-{time.monotonic_ns()}"
    cfg = {
        "gateway": {"id": "bench", "data_dir": str(data)},
        "mqtt": {"url": broker.url, "protocol": protocol, "receive_maximum": args.receive_maximum,
                 "commit_max_messages": args.commit_max, "decode_worker": args.worker},
        "buffer": {"durability": args.durability},
        "uplink": {"url": f"http://127.0.0.1:{free_port()}", "breaker_reset_s": 600,
                   "retry_min_s": 600, "retry_max_s": 600},
        "health": {"port": port},
        "log": {"level": "WARNING"},
        "detect": {"enabled": detectors, "worker": args.score_worker},
    }
    config = tmp / "gateway.toml"
    config.write_bytes(tomli_w.dumps(cfg).encode())
    log = tmp / "gateway.log"
    proc = start_gateway(config, port, log)  # creates the session and the subscription
    proc.terminate()
    proc.wait(30)
    preload(broker, items)
    proc = start_gateway(config, port, log)
    first_t = first_n = acked_t = 0.0
    while True:
        got = metric(port, "iotgw_gateway_messages_received_total")
        done = metric(port, "iotgw_gateway_messages_total", outcome="buffered")
        now = time.perf_counter()
        if got > 0 and not first_t:
            first_t, first_n = now, got
        if got >= n and not acked_t:
            acked_t = now
        if done >= n:
            break
        time.sleep(0.01)
    cpu = metric(port, "iotgw_gateway_process_cpu_seconds_total")
    rss = proc.memory_info().rss + sum(c.memory_info().rss for c in proc.children())
    proc.terminate()
    proc.wait(60)
    disk = sum(p.stat().st_size for p in data.glob("*.db*"))
    return {"acked": (n - first_n) / (acked_t - first_t), "processed": n / (now - first_t),
            "rss": rss, "disk": disk / (n * len(SENSORS)), "stage_us": cpu / n * 1e6}


def with_broker(tmp: Path, name: str, receive_max: int, run: Any) -> Any:
    broker = Mosquitto(tmp / f"mq-{name}-{time.monotonic_ns()}",
                       extra_config=f"max_inflight_messages {receive_max}")
    broker.start()
    try:
        return run(broker)
    finally:
        broker.kill()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=20_000, help="messages (default 20,000)")
    ap.add_argument("--devices", type=int, default=1000)
    ap.add_argument("--receive-maximum", type=int, default=4000,
                    help="MQTT 5 Receive Maximum and Mosquitto max_inflight_messages (4000)")
    ap.add_argument("--commit-max", type=int, default=1000, help="mqtt.commit_max_messages")
    ap.add_argument("--worker", action="store_true",
                    help="mqtt.decode_worker = true: decode in a second process")
    ap.add_argument("--score-worker", action="store_true",
                    help="detect.worker = true: score in a second process (RSS counts both)")
    ap.add_argument("--durability", choices=("process", "power-loss"), default="power-loss")
    ap.add_argument("--protocols", default="3.1.1,5")
    ap.add_argument("--detectors", default="on,off")
    ap.add_argument("--repeat", type=int, default=1, help="runs per mode (report the range)")
    ap.add_argument("--format", choices=CODEC_NAMES, default="json",
                    help="payload codec (default json; the e2e bench's simulator sends binary)")
    args = ap.parse_args()
    items = payloads(args.count, args.devices, args.format)
    print(f"messages: {args.count} {args.format} from {args.devices} devices x {len(SENSORS)} "
          f"sensors "
          f"(Receive Maximum {args.receive_maximum}, durability {args.durability}, "
          f"commit_max_messages {args.commit_max}, decode worker {args.worker}, score worker "
          f"{args.score_worker})")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for protocol in args.protocols.split(","):
            for det in args.detectors.split(","):
                for _ in range(args.repeat):
                    base = with_broker(tmp, "base", args.receive_maximum,
                                       lambda b, p=protocol: baseline(b, items,
                                                                      args.receive_maximum, p))
                    r = with_broker(tmp, "gw", args.receive_maximum,
                                    lambda b, p=protocol, on=det == "on": gateway(
                                        b, items, tmp, args, p, on))
                    print(f"MQTT {protocol:5} detectors {det:3}: baseline {base:8,.0f} msg/s | "
                          f"gateway acknowledged {r['acked']:8,.0f} msg/s "
                          f"(ratio {r['acked'] / base:.2f}) | processed {r['processed']:7,.0f} "
                          f"msg/s (ratio {r['processed'] / base:.2f}, stage CPU "
                          f"{r['stage_us']:.0f} us/msg) | RSS "
                          f"{r['rss'] / 2**20:5.1f} MB | {r['disk']:.0f} B/reading on disk",
                          flush=True)


if __name__ == "__main__":
    main()
