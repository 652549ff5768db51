"""Scaling on one machine: the same load through 1, 2 and 3 gateway partitions and 1 or 2 cloud
replicas behind HAProxy, with the per-core figures the capacity model in docs/scaling.md uses.

    python bench/scale.py                          # 5 configurations, 30,000 messages each
    python bench/scale.py --messages 60000 --configs 1x1,3x2

Everything is real and on loopback: Mosquitto, ``influxd`` 1.x, PostgreSQL (the cloud's
metadata), HAProxy, ``iotgw cloud run`` replicas and ``iotgw gateway run --partition`` processes
from one ``[[partition]]`` config. For each configuration ``PxR`` (P partitions, R replicas) the
gateways first subscribe (persistent sessions) and stop; this process then queues
``--messages`` binary-encoded QoS 1 messages (5 readings each, 6 sites, 300 devices) in
Mosquitto; the gateways start again and drain the backlog through HAProxy and the cloud into
InfluxDB. The steady part of the drain (from 10% to 90% of the readings stored) is measured,
so process start-up is not.

Printed per configuration: readings/s end to end in that window, the ratio to the 1x1 baseline
of the same run, and where the CPU went (CPU seconds per process kind in the window, from /proc
via psutil; the bench's own polling is not counted). Then the per-core figures of the 1x1
run (gateway messages per CPU-second, cloud readings per CPU-second, influxd and Mosquitto CPU
per point/message), bytes per reading on the wire (MQTT payload, gzip uplink through HAProxy)
and on disk (TSM after a snapshot), and the capacity model built from them for 1k / 100k /
10M devices.

On a 2-core machine shared with other work the curve flattens: more processes than cores only
divide the same two cores. The CPU split says which process would need the next core.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import paho.mqtt.client as mqtt  # noqa: E402
import psutil  # noqa: E402

from firmware_protocol.codecs import get_codec  # noqa: E402
from firmware_protocol.model import Message, Reading  # noqa: E402
from iotgw.processes import LOOPBACK, free_port  # noqa: E402
from tests.support.haproxy import HAProxy  # noqa: E402
from tests.support.processes import CloudProcess, GatewayProcess  # noqa: E402
from tests.support.reconcile import influx_query  # noqa: E402
from tests.support.servers import InfluxDB, Mosquitto, PostgreSQL  # noqa: E402

SITES = 6
DEVICES_PER_SITE = 50
SENSORS = ("temperature", "vibration", "pressure", "humidity", "current")
SECONDS_PER_MONTH = 30 * 86400
FLEETS = (1_000, 100_000, 10_000_000)


class CompactingInfluxDB(InfluxDB):
    """``influxd`` that snapshots its cache to TSM files within seconds of the last write, so
    the bytes on disk per point are TSM bytes, not the write-ahead log's."""

    def config_text(self) -> str:
        return super().config_text().replace(
            '  wal-fsync-delay = "0s"',
            '  wal-fsync-delay = "0s"\n  cache-snapshot-write-cold-duration = "2s"\n'
            '  compact-full-write-cold-duration = "4s"')


@dataclass
class Infra:
    workdir: Path
    mosquitto: Mosquitto
    influx: CompactingInfluxDB
    postgres: PostgreSQL


@dataclass
class Result:
    name: str
    readings: int
    seconds: float
    cpu: dict[str, float]
    uplink_bytes: int = 0
    payload_bytes: int = 0
    disk_bytes: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.readings / self.seconds


def messages(count: int, seed: int) -> list[tuple[str, bytes]]:
    """``count`` binary messages spread over the sites and devices, values a random walk."""
    codec, rng = get_codec("binary"), random.Random(seed)
    level = dict.fromkeys(SENSORS, 50.0)
    out = []
    for i in range(count):
        site, dev = i % SITES, (i // SITES) % DEVICES_PER_SITE
        seq = i // (SITES * DEVICES_PER_SITE)
        readings = []
        for s in SENSORS:
            level[s] += rng.gauss(0, 0.3)
            readings.append(Reading(s, round(level[s], 2)))
        # Device ids are unique across sites, as in a fleet: the cloud binds a device to the
        # first gateway (partition) that sends it and refuses it from any other.
        device = f"s{site}-dev-{dev:04d}"
        msg = Message(device, seq, 1_700_000_000_000 + seq * 10_000 + site,
                      tuple(readings), site=f"site-{site}")
        out.append((f"sensors/site-{site}/{device}/binary", codec.encode(msg)))
    return out


def publish(broker: Mosquitto, items: list[tuple[str, bytes]]) -> None:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-scale-{time.time()}")
    client.max_inflight_messages_set(20)
    client.connect(broker.host, broker.port)
    client.loop_start()
    last = None
    for i, (topic, payload) in enumerate(items):
        last = client.publish(topic, payload, qos=1)
        if i % 1000 == 999:
            last.wait_for_publish(60)
    if last is not None:
        last.wait_for_publish(60)
    client.disconnect()
    client.loop_stop()


def partition_config(workdir: Path, partitions: int, broker: str, uplink: str,
                     tokens: dict[str, str], gateway_id: str = "edge") -> dict[str, Any]:
    """One config with ``partitions`` [[partition]] tables dividing the sites between them.
    Each configuration gets its own ``gateway_id``: the partitions' MQTT sessions are named
    after it, and a session the broker kept from an earlier configuration would still hold
    that configuration's subscriptions."""
    parts = []
    for p in range(partitions):
        sites = [s for s in range(SITES) if s % partitions == p]
        parts.append({
            "name": f"p{p}", "health_port": free_port(), "token": tokens[f"p{p}"],
            "subscriptions": [{"topic": f"sensors/site-{s}/{{device}}/{{format}}"}
                              for s in sites]})
    return {
        "gateway": {"id": gateway_id, "data_dir": str(workdir / "data")},
        "mqtt": {"url": broker},
        "uplink": {"url": uplink},
        "health": {"host": LOOPBACK, "port": free_port()},
        "log": {"level": "WARNING"},
        "partition": parts,
    }


def cpu_seconds(pids: Iterable[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            for p in [proc, *proc.children(recursive=True)]:
                t = p.cpu_times()
                total += t.user + t.system
        except psutil.Error:
            pass
    return total


def stored(influx: InfluxDB, db: str) -> int:
    series = influx_query(influx.url, db, 'SELECT count("value") FROM "readings"')
    return int(series[0]["values"][0][1]) if series else 0


def dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def haproxy_bytes_in(proxy: HAProxy) -> int:
    """Request bytes the balancer's ``cloud`` frontend received (its CSV stats)."""
    text = httpx.get(f"http://{LOOPBACK}:{proxy.stats_port}/stats;csv", timeout=5).text
    header = text.splitlines()[0].lstrip("# ").split(",")
    for line in text.splitlines()[1:]:
        row = line.split(",")
        if row[:2] == ["cloud", "FRONTEND"]:
            return int(row[header.index("bin")])
    return 0


def run_config(infra: Infra, partitions: int, replicas: int, items: list[tuple[str, bytes]],
               timeout: float) -> Result:
    name = f"{partitions}x{replicas}"
    work = infra.workdir / name
    db = f"scale_{partitions}x{replicas}"
    infra.influx.create_database(db)
    infra.postgres.create_database(db)
    store = {"kind": "influxdb", "url": infra.influx.url, "database": db, "precision": "ms",
             "timeout_s": 10.0}
    clouds = []
    for r in range(replicas):
        c = CloudProcess(work / f"cloud{r}", store)
        c.config["metadata"] = {"url": infra.postgres.url(db)}
        c.config["server"]["log_level"] = "warning"
        c.write_config()
        clouds.append(c)
    proxy = HAProxy(work / "haproxy", [c.host_port() for c in clouds])
    gateways: list[GatewayProcess] = []
    try:
        for c in clouds:
            c.start()
        proxy.start()
        tokens = {f"p{p}": clouds[0].create_token(f"edge-{name}-p{p}") for p in range(partitions)}
        config = partition_config(work / "gw", partitions, infra.mosquitto.url, proxy.url,
                                  tokens, gateway_id=f"edge-{name}")
        gateways = [GatewayProcess(work / "gw", config, partition=f"p{p}")
                    for p in range(partitions)]
        for g in gateways:  # subscribe once: the broker queues the backlog for each session
            g.start()
        for g in gateways:
            g.stop()
        publish(infra.mosquitto, items)
        window = drain(infra, db, gateways, clouds, proxy, len(items) * len(SENSORS), timeout)
        uplink = haproxy_bytes_in(proxy)
    finally:
        for g in gateways:
            g.kill()
        proxy.kill()
        for c in clouds:
            c.kill()
    time.sleep(8)  # let influxd snapshot the cache into TSM files
    tsm = sum(f.stat().st_size for f in (infra.influx.workdir / "data" / db).rglob("*.tsm"))
    readings, seconds, cpu, complete = window
    return Result(name, readings, seconds, cpu, uplink_bytes=uplink,
                  payload_bytes=sum(len(p) + len(t) for t, p in items), disk_bytes=tsm,
                  extra={"complete": complete, "total": len(items) * len(SENSORS)})


def drain(infra: Infra, db: str, gateways: list[GatewayProcess], clouds: list[CloudProcess],
          proxy: HAProxy, expected: int, timeout: float
          ) -> tuple[int, float, dict[str, float], bool]:
    """Start the gateways on the queued backlog; measure the steady part of the drain (10% to
    90% of the readings stored): readings, seconds and CPU seconds per process kind."""
    for g in gateways:
        g.start(wait=False)
    groups = {"gateway": gateways, "cloud": clouds, "influxd": [infra.influx],
              "mosquitto": [infra.mosquitto], "haproxy": [proxy]}
    pids = {k: [p.pid for p in v if p.pid is not None] for k, v in groups.items()}
    marks: list[tuple[float, int, dict[str, float]]] = []
    deadline = time.perf_counter() + timeout
    count = 0
    while time.perf_counter() < deadline and len(marks) < 2:
        count = stored(infra.influx, db)
        if count >= expected * (0.1 if not marks else 0.9):
            marks.append((time.perf_counter(), count,
                          {k: cpu_seconds(v) for k, v in pids.items()}))
        time.sleep(0.2)
    if len(marks) < 2:
        raise RuntimeError(f"stored {count} of {expected} readings within {timeout} s")
    (t0, c0, cpu0), (t1, c1, cpu1) = marks
    complete = wait_for_all(infra.influx, db, expected, deadline)
    return c1 - c0, t1 - t0, {k: cpu1[k] - cpu0[k] for k in cpu0}, complete


def wait_for_all(influx: InfluxDB, db: str, expected: int, deadline: float) -> bool:
    while time.perf_counter() < deadline:
        if stored(influx, db) >= expected:
            return True
        time.sleep(0.5)
    return False


def print_results(results: list[Result]) -> None:
    base = results[0].rate
    kinds = list(results[0].cpu)
    print(f"\n{'config':<8}{'readings/s':>12}{'vs 1x1':>8}{'wall s':>8}  "
          + "".join(f"{k.split()[0][:9]:>10}" for k in kinds) + "   (CPU seconds)")
    for r in results:
        lost = "" if r.extra["complete"] else "  INCOMPLETE: not every reading was stored"
        print(f"{r.name:<8}{r.rate:>12,.0f}{r.rate / base:>8.2f}{r.seconds:>8.1f}  "
              + "".join(f"{r.cpu[k]:>10.1f}" for k in kinds) + lost)
    print("(PxR: P gateway partitions, R cloud replicas behind HAProxy; "
          f"{psutil.cpu_count()} CPUs on this machine, shared; default gateway and cloud "
          "settings: 500-row batches, up to 2 in flight per gateway)")


@dataclass
class PerCore:
    gateway_msgs: float
    cloud_readings: float
    influx_us_per_point: float
    broker_msgs: float
    payload_per_reading: float
    uplink_per_reading: float
    disk_per_point: float


def per_core(r: Result) -> PerCore:
    msgs = r.readings / len(SENSORS)
    return PerCore(
        gateway_msgs=msgs / r.cpu["gateway"],
        cloud_readings=r.readings / r.cpu["cloud"],
        influx_us_per_point=r.cpu["influxd"] / r.readings * 1e6,
        broker_msgs=msgs / max(r.cpu["mosquitto"], 1e-9),
        payload_per_reading=r.payload_bytes / r.extra["total"],
        uplink_per_reading=r.uplink_bytes / r.extra["total"],
        disk_per_point=r.disk_bytes / r.extra["total"],
    )


def print_per_core(pc: PerCore) -> None:
    print("\nper-core figures (from the 1x1 run):")
    print(f"  gateway intake       {pc.gateway_msgs:>10,.0f} messages per CPU-second "
          f"({pc.gateway_msgs * len(SENSORS):,.0f} readings)")
    print(f"  cloud ingest         {pc.cloud_readings:>10,.0f} readings per CPU-second")
    print(f"  influxd              {pc.influx_us_per_point:>10.1f} CPU-microseconds per point")
    print(f"  mosquitto            {pc.broker_msgs:>10,.0f} messages in+out per CPU-second")
    print(f"  MQTT payload+topic   {pc.payload_per_reading:>10.1f} bytes per reading "
          f"({len(SENSORS)} readings per binary message)")
    print(f"  uplink (gzip, HTTP)  {pc.uplink_per_reading:>10.1f} bytes per reading, "
          "through HAProxy, headers included")
    print(f"  InfluxDB TSM on disk {pc.disk_per_point:>10.1f} bytes per point (all of the run's "
          "points; the rate columns use the 10%-90% window)")


def print_model(pc: PerCore, interval_s: float, headroom: float) -> None:
    """Cores and machines per tier for each fleet at one message (5 readings) per
    ``interval_s`` per device, keeping every tier at ``headroom`` of its cores."""
    print(f"\ncapacity model: one message of {len(SENSORS)} readings per device every "
          f"{interval_s:g} s, tiers run at {headroom:.0%} CPU")
    print(f"{'devices':>12}{'msg/s':>11}{'broker':>9}{'gw parts':>10}{'cloud':>8}"
          f"{'influx':>9}{'MQTT GB/mo':>12}{'uplink GB/mo':>13}{'raw TB/mo':>11}")
    for devices in FLEETS:
        msgs = devices / interval_s
        readings = msgs * len(SENSORS)
        broker = msgs / (pc.broker_msgs * headroom)
        gateway = msgs / (pc.gateway_msgs * headroom)
        cloud = readings / (pc.cloud_readings * headroom)
        influx = readings * pc.influx_us_per_point / 1e6 / headroom
        mqtt_gb = readings * pc.payload_per_reading * SECONDS_PER_MONTH / 1e9
        uplink_gb = readings * pc.uplink_per_reading * SECONDS_PER_MONTH / 1e9
        raw_tb = readings * pc.disk_per_point * SECONDS_PER_MONTH / 1e12
        print(f"{devices:>12,}{msgs:>11,.0f}{math.ceil(broker):>9}{math.ceil(gateway):>10}"
              f"{math.ceil(cloud):>8}{math.ceil(influx):>9}{mqtt_gb:>12,.1f}"
              f"{uplink_gb:>13,.1f}{raw_tb:>11,.2f}")
    print("(broker, gw parts, cloud, influx: cores, each gateway partition and cloud replica "
          "being one core; MQTT GB/mo: device payload+topic bytes only)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=30_000)
    ap.add_argument("--configs", default="1x1,2x1,3x1,1x2,3x2",
                    help="comma-separated PxR: P gateway partitions, R cloud replicas")
    ap.add_argument("--interval", type=float, default=10.0,
                    help="seconds between two messages of one device, for the model")
    ap.add_argument("--headroom", type=float, default=0.6)
    ap.add_argument("--timeout", type=float, default=600.0)
    args = ap.parse_args(argv)
    configs = [tuple(int(x) for x in c.split("x")) for c in args.configs.split(",")]
    items = messages(args.messages, seed=1)
    with tempfile.TemporaryDirectory(prefix="iotgw-scale-") as tmp:
        work = Path(tmp)
        # As deploy/mosquitto/mosquitto.conf: 1000 unacknowledged messages in flight per client.
        broker = Mosquitto(work / "mosquitto", extra_config="max_inflight_messages 1000")
        infra = Infra(work, broker, CompactingInfluxDB(work / "influx"), PostgreSQL())
        results = []
        try:
            infra.mosquitto.start()
            infra.influx.start()
            infra.postgres.start()
            for p, r in configs:
                print(f"running {p}x{r} ...", flush=True)
                results.append(run_config(infra, p, r, items, args.timeout))
        finally:
            infra.mosquitto.kill()
            infra.influx.kill()
            infra.postgres.remove()
    print_results(results)
    pc = per_core(results[0])
    print_per_core(pc)
    print_model(pc, args.interval, args.headroom)
    return 0


if __name__ == "__main__":
    sys.exit(main())
