"""Peer comparison: Node-RED (MQTT in -> InfluxDB) against iotgw, same broker, same influxd.

Installs Node-RED and ``node-red-contrib-influxdb`` with npm into a temporary folder, starts a
real Mosquitto and ``influxd`` on loopback, and drives each consumer in turn with the same
simulator load (``iotgw sim run --manifest``, JSON payloads, QoS 1):

1. steady load: throughput (readings stored per second, first publish to last point queryable)
   and readings lost / duplicated against the manifest;
2. the same load with a ``kill -9`` of the consumer mid-stream and a restart.

Node-RED runs two flows, and iotgw is compared with the better of them:

- ``unbatched``, the one its users build first: ``mqtt in`` (QoS 1, persistent session, fixed
  client id) -> a function turning our JSON message into points -> ``influxdb batch`` (v1 API,
  precision ms), one write per message;
- ``tuned``, what a tuned deployment uses: the same ``mqtt in`` -> ``join`` (an array of up to
  1,000 messages, or whatever arrived within 1 s) -> a function flattening the arrays into one
  list of points -> ``influxdb batch``, one write per 1,000 messages. (A node's id must not equal
  a node type, e.g. ``join``, or Node-RED refuses the flow as a circular dependency.)

iotgw is the gateway and cloud processes with default settings. The simulator publishes as fast
as the broker takes them (``--rate 0``) from ``--processes`` processes, so the consumer, not the
load generator, sets the pace; the broker queues for the consumer's persistent session. Not part
of CI::

    python bench/peers/nodered.py [--count 40000] [--rate 0] [--processes 2] [--keep DIR]
    python bench/peers/nodered.py --consumers tuned,iotgw --scenarios steady --probe

``--probe`` prints, per run, where the time went (``bench/peers/probe.py``): CPU per process
and per gateway thread (and how long each thread waited for a core), the machine's idle CPU,
and the gateway's counters (received, processed, sent, batches) over time. While a run goes
on the script polls the number of readings stored (``count`` in influxd, 4x a second); the
reconciliation against the manifest reads every point once at the end.

Needs ``node`` and ``npm`` (the npm registry must be reachable), ``mosquitto`` and ``influxd``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT))

from bench.overrides import add_set_argument, parse_sets  # noqa: E402
from bench.peers.probe import Probe  # noqa: E402
from tests.support.processes import IotgwProcess  # noqa: E402
from tests.support.reconcile import (  # noqa: E402
    Reconciliation,
    influx_query,
    reconcile,
    stored_readings,
)
from tests.support.servers import (  # noqa: E402
    LOOPBACK,
    InfluxDB,
    Mosquitto,
    ShippedMosquitto,
    free_port,
)
from tests.support.stack import Simulation, Stack  # noqa: E402

NODE_RED_VERSION = "4.1.15"
INFLUX_NODES_VERSION = "0.7.0"

FUNCTION_CODE = """
const m = msg.payload;
if (!m || !Array.isArray(m.readings)) { return null; }
const device = m.device || msg.topic.split('/')[2];
msg.payload = m.readings.map(r => ({
    measurement: 'readings',
    tags: {device: String(device), sensor: String(r.sensor)},
    fields: {value: Number(r.value), seq: m.seq},
    timestamp: m.ts + (r.offset_ms || 0),
}));
return msg;
"""


TUNED_FUNCTION_CODE = """
const points = [];
for (const m of msg.payload) {
    if (!m || !Array.isArray(m.readings)) { continue; }
    for (const r of m.readings) {
        points.push({
            measurement: 'readings',
            tags: {device: String(m.device), sensor: String(r.sensor)},
            fields: {value: Number(r.value), seq: m.seq},
            timestamp: m.ts + (r.offset_ms || 0),
        });
    }
}
if (points.length === 0) { return null; }
msg.payload = points;
return msg;
"""
#: Node-RED flow variants this script runs (see the module docstring).
FLOWS = ("unbatched", "tuned")


def npm_install(folder: Path) -> Path:
    """Node-RED in ``folder/app``, the InfluxDB nodes in its user directory ``folder/user``
    (an earlier install there is used as it is)."""
    red_js = folder / "app" / "node_modules" / "node-red" / "red.js"
    influx_nodes = folder / "user" / "node_modules" / "node-red-contrib-influxdb"
    if red_js.exists() and influx_nodes.exists():
        return red_js
    npm = shutil.which("npm")
    if npm is None:
        sys.exit("npm is not installed: install Node.js 18+ (with npm) and run this again")
    app, user = folder / "app", folder / "user"
    app.mkdir(parents=True, exist_ok=True)
    user.mkdir(parents=True, exist_ok=True)
    for where, pkg in ((app, f"node-red@{NODE_RED_VERSION}"),
                       (user, f"node-red-contrib-influxdb@{INFLUX_NODES_VERSION}")):
        print(f"npm install {pkg} ...", file=sys.stderr)
        subprocess.run([npm, "install", "--prefix", str(where), "--no-audit", "--no-fund",
                        "--loglevel", "error", pkg], check=True, stdout=subprocess.DEVNULL)
    return app / "node_modules" / "node-red" / "red.js"


def flow(broker_port: int, influx_port: int, database: str, client_id: str,
         variant: str = "unbatched") -> list[dict[str, object]]:
    """The flow file of one variant (ids never equal a node type)."""
    nodes: list[dict[str, object]] = [
        {"id": "tab", "type": "tab", "label": "ingest"},
        {"id": "broker", "type": "mqtt-broker", "broker": LOOPBACK, "port": str(broker_port),
         "clientid": client_id, "cleansession": False, "autoConnect": True,
         "protocolVersion": "4", "keepalive": "30", "autoUnsubscribe": False},
        {"id": "influx", "type": "influxdb", "hostname": LOOPBACK, "port": str(influx_port),
         "database": database, "influxdbVersion": "1.x", "usetls": False},
        {"id": "in", "type": "mqtt in", "z": "tab", "topic": "sensors/+/+/json", "qos": "1",
         "datatype": "json", "broker": "broker", "nl": False, "rap": True, "rh": 0,
         "wires": [["fn" if variant == "unbatched" else "batcher"]]},
        {"id": "out", "type": "influxdb batch", "z": "tab", "influxdb": "influx",
         "precision": "ms", "retentionPolicy": "", "wires": []},
    ]
    if variant == "unbatched":
        return [*nodes, {"id": "fn", "type": "function", "z": "tab", "func": FUNCTION_CODE,
                         "outputs": 1, "wires": [["out"]]}]
    return [
        *nodes,
        {"id": "batcher", "type": "join", "z": "tab", "mode": "custom", "build": "array",
         "property": "payload", "propertyType": "msg", "key": "topic", "joiner": "\\n",
         "joinerType": "str", "accumulate": False, "timeout": "1", "count": "1000",
         "reduceRight": False, "useparts": False, "wires": [["flatten"]]},
        {"id": "flatten", "type": "function", "z": "tab", "func": TUNED_FUNCTION_CODE,
         "outputs": 1, "wires": [["out"]]},
    ]


class NodeRed(IotgwProcess):
    """``node red.js`` with our flow, as a process that can be killed and restarted."""

    name = "node-red"

    def __init__(self, workdir: Path, red_js: Path, user_dir: Path) -> None:
        super().__init__(workdir)
        self.red_js = red_js
        self.user_dir = user_dir
        self.port = free_port()
        self.client_id = "nodered-peer"

    def configure(self, broker_port: int, influx_port: int, database: str,
                  client_id: str, variant: str = "unbatched") -> None:
        self.client_id = client_id
        (self.user_dir / "flows.json").write_text(
            json.dumps(flow(broker_port, influx_port, database, client_id, variant))
        )
        (self.user_dir / "settings.js").write_text(
            "module.exports = {"
            f" uiHost: '{LOOPBACK}', uiPort: {self.port}, flowFile: 'flows.json',"
            " credentialSecret: false, httpAdminRoot: '/admin',"
            " logging: {console: {level: 'warn', metrics: false, audit: false}} };\n"
        )

    def start(self, wait: bool = True, timeout: float = 60.0) -> None:
        node = shutil.which("node") or "node"
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(  # type: ignore[assignment]
                [node, str(self.red_js), "--userDir", str(self.user_dir),
                 "--settings", str(self.user_dir / "settings.js")],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=self.workdir, start_new_session=True,
            )
        self.starts += 1
        if wait:
            self.wait_ready(timeout)
            time.sleep(2.0)  # flows start (and the MQTT client connects) after the HTTP port

    @property
    def ready_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}/admin/flows"


def clear_session(broker: Mosquitto, client_id: str) -> None:
    """Connect once with a clean session, so the broker forgets ``client_id``'s queue."""
    import paho.mqtt.client as mqtt

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                         clean_session=True)
    client.connect(broker.host, broker.port)
    client.loop_start()
    time.sleep(0.5)
    client.disconnect()
    client.loop_stop()


@dataclass
class Result:
    consumer: str
    scenario: str
    published: int
    expected: int
    seconds: float
    rec: Reconciliation

    @property
    def rate(self) -> float:
        """Readings stored (each once, lost ones not counted) per second."""
        delivered = self.rec.expected - len(self.rec.lost)
        return delivered / self.seconds if self.seconds else 0.0

    def row(self) -> str:
        return (f"{self.consumer:<18} {self.scenario:<8} {self.expected:>9} "
                f"{self.rate:>14,.0f} {len(self.rec.lost):>6} {len(self.rec.duplicated):>5}")


def stored_count(url: str, db: str, client: httpx.Client) -> int:
    """Readings stored so far, counted by influxd: the poll while a run goes on. (It used to
    fetch every point with its fields, 4x a second: up to 200,000 rows of JSON each time,
    parsed here, which took a core between influxd and this script from both consumers.)"""
    series = influx_query(url, db, 'SELECT count("value") FROM "readings"', client=client)
    return int(series[0]["values"][0][1]) if series else 0


def drive(consumer: str, scenario: str, sim: Simulation, influx: InfluxDB, db: str,
          victim: IotgwProcess, timeout: float, probe: Probe | None = None) -> Result:
    """Run ``sim``; in the kill scenario SIGKILL ``victim`` mid-stream and restart it; wait
    until the store stops growing; reconcile (``probe`` samples CPU and counters meanwhile)."""
    t0 = time.monotonic()
    if probe is not None:
        probe.start()
    sim.start()
    if scenario == "kill -9":
        time.sleep(3.0)
        victim.kill()
        time.sleep(2.0)
        victim.start()
    sim.wait(timeout)
    last, last_change, done_at = -1, time.monotonic(), time.monotonic()
    from simulators.manifest import expected_readings

    want = len(expected_readings(sim.manifest))
    with httpx.Client(timeout=30.0) as client:
        while time.monotonic() - last_change < 10.0 and time.monotonic() - t0 < timeout:
            n = stored_count(influx.url, db, client)
            if n != last:
                last, last_change, done_at = n, time.monotonic(), time.monotonic()
            if n >= want:
                break
            time.sleep(0.25)
    if probe is not None:
        probe.stop()
    rec = reconcile(sim.manifest, stored_readings(influx.url, db))
    if probe is not None:
        print(f"\n== {consumer}, {scenario}: where the time went", file=sys.stderr)
        probe.report(rec.expected - len(rec.lost))
    return Result(consumer, scenario, sim.acknowledged_lines(), rec.expected, done_at - t0, rec)


def report(results: list[Result], args: argparse.Namespace) -> None:
    """The table, then iotgw against the better Node-RED flow (by steady throughput)."""
    rate = "as fast as the broker takes them" if args.rate == 0 else f"{args.rate} msg/s"
    print(f"\nload: {args.count} messages x 5 sensors, {rate} from {args.processes} "
          f"simulator process(es), {args.devices} devices, JSON, QoS 1 (same broker and influxd)")
    print(f"{'consumer':<18} {'scenario':<8} {'expected':>9} {'readings/s':>14} {'lost':>6} "
          f"{'dup':>5}")
    for r in results:
        print(r.row())
    steady = {r.consumer: r for r in results if r.scenario == "steady"}
    killed = {r.consumer: r for r in results if r.scenario != "steady"}
    peers = [r for name, r in steady.items() if name.startswith("node-red")]
    if "iotgw" not in steady or not peers:
        return
    best = max(peers, key=lambda r: r.rate)
    ours = steady["iotgw"]
    print(f"\nbest Node-RED flow: {best.consumer} ({best.rate:,.0f} readings/s steady)")
    print(f"iotgw / best Node-RED, steady: {ours.rate:,.0f} / {best.rate:,.0f} = "
          f"{ours.rate / best.rate:.2f}x (target >= 1.5x)")
    if best.consumer in killed and "iotgw" in killed:
        print(f"across a kill -9: {best.consumer} lost {len(killed[best.consumer].rec.lost)}, "
              f"iotgw lost {len(killed['iotgw'].rec.lost)} readings")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=40_000, help="messages per run")
    parser.add_argument("--rate", type=int, default=0,
                        help="messages/s the simulator sends (default 0: as fast as it can)")
    parser.add_argument("--processes", type=int, default=2,
                        help="simulator processes (iotgw sim run --processes)")
    parser.add_argument("--devices", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--keep", type=Path, help="work folder to keep (default: a temp dir)")
    parser.add_argument("--npm", type=Path,
                        help="folder for the npm install (kept; reused when already there)")
    parser.add_argument("--consumers", default=",".join((*FLOWS, "iotgw")),
                        help="comma-separated subset of: unbatched, tuned, iotgw")
    parser.add_argument("--scenarios", default="steady,kill",
                        help="comma-separated subset of: steady, kill")
    parser.add_argument("--probe", action="store_true",
                        help="print CPU per process and thread, idle CPU and the gateway's "
                             "counters over each run (bench/peers/probe.py)")
    add_set_argument(parser, "detect.worker=true (iotgw's gateway only)")
    args = parser.parse_args(argv)
    args.gateway = parse_sets(parser, args.set)
    consumers = args.consumers.split(",")
    scenarios = [s for s in ("steady", "kill") if s in args.scenarios.split(",")]

    work = args.keep or Path(tempfile.mkdtemp(prefix="iotgw-peers-"))
    red_js = npm_install(args.npm or work / "npm")
    # The broker as shipped (deploy/mosquitto/mosquitto.conf), the same for every consumer.
    broker = ShippedMosquitto(work / "mosquitto")
    influx = InfluxDB(work / "influxd")
    results: list[Result] = []
    broker.start()
    influx.start()
    red = NodeRed(work / "nodered", red_js, red_js.parents[3] / "user")
    try:
        for i, scenario in enumerate(scenarios):
            load = {"devices": args.devices, "rate": args.rate, "count": args.count,
                    "format": "json", "qos": 1, "seed": 11 + i, "processes": args.processes}
            name = "steady" if scenario == "steady" else "kill -9"
            for variant in (v for v in FLOWS if v in consumers):
                results.append(run_nodered(red, variant, i, name, load, work, broker, influx,
                                           args))
            if "iotgw" in consumers:
                results.append(run_iotgw(i, name, load, work, broker, influx, args))
    finally:
        red.kill()
        influx.stop()
        broker.stop()
    report(results, args)
    print(f"\nwork folder: {work}", file=sys.stderr)
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def run_nodered(red: NodeRed, variant: str, i: int, scenario: str, load: dict[str, object],
                work: Path, broker: Mosquitto, influx: InfluxDB,
                args: argparse.Namespace) -> Result:
    db = f"nodered_{variant}_{i}"
    influx.create_database(db)
    red.configure(broker.port, influx.port, db, f"nodered-{variant}-{i}", variant)
    red.start()
    sim = Simulation(work / f"sim-nr-{variant}-{i}", broker.url, load)
    probe = _probe(sim, red, broker, influx, None, args)
    try:
        return drive(f"node-red {variant}", scenario, sim, influx, db, red, args.timeout, probe)
    finally:
        red.stop()
        # Its persistent session would keep queueing every later run's messages.
        clear_session(broker, red.client_id)


def run_iotgw(i: int, scenario: str, load: dict[str, object], work: Path, broker: Mosquitto,
              influx: InfluxDB, args: argparse.Namespace) -> Result:
    db = f"iotgw_{i}"
    influx.create_database(db)
    stack = Stack(work / f"iotgw-{i}", broker, influx, db, gateway_id=f"gw-peer-{i}",
                  gateway=args.gateway or None)
    stack.start()
    try:
        sim = Simulation(work / f"sim-gw-{i}", broker.url, load)
        probe = _probe(sim, stack.gw, broker, influx, stack, args)
        return drive("iotgw", scenario, sim, influx, db, stack.gw, args.timeout, probe)
    finally:
        stack.stop()
        clear_session(broker, f"iotgw-gw-peer-{i}")


def _probe(sim: Simulation, consumer: IotgwProcess, broker: Mosquitto, influx: InfluxDB,
           stack: Stack | None, args: argparse.Namespace) -> Probe | None:
    if not args.probe:
        return None

    def roots() -> dict[str, int | None]:
        out = {"simulator": sim.child.pid if sim.child else None, "broker": broker.pid,
               "influxd": influx.pid, consumer.name: consumer.pid}
        if stack is not None:
            out["cloud"] = stack.cloud.pid
        return out

    metrics = stack.gw.metrics if stack is not None else dict
    return Probe(roots, (lambda: consumer.pid) if stack is not None else (lambda: None),
                 metrics)


if __name__ == "__main__":
    sys.exit(main())
