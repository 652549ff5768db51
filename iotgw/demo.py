"""``iotgw demo``: the whole system on one machine with one command.

It starts an embedded MQTT broker (unless ``--broker``), the cloud on its SQLite store (unless
``--influx-url``), the gateway, and a simulated fleet with injected faults and one machine
degrading towards failure. It prints where to look, a live summary line, and shuts everything
down cleanly on Ctrl-C or after ``--duration``. Cloud and gateway run as real child processes
(``iotgw cloud run``, ``iotgw gateway run``), as they would in production.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import signal
import socket
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

from iotgw.demo_config import InfluxTarget, cloud_toml, gateway_toml
from iotgw.embedded_broker import EmbeddedBroker
from iotgw.processes import ChildFailed, ChildProcess, free_port, iotgw_command

DEMO_FAULTS = "spike=0.004,stuck=0.0005/40,duplicate=0.005,bad-crc=0.002,truncated=0.001"

#: Alert rules the demo installs, so the degrading machine and the injected faults show up as
#: alerts: a predictive-maintenance forecast on vibration and a burst of edge anomalies.
DEMO_RULES: tuple[dict[str, object], ...] = (
    {"name": "bearing wear", "kind": "forecast", "scope": {"sensor": "vibration"},
     "limit": 10.0, "lookback_s": 120, "horizon_s": 900, "severity": "warning",
     "message": "{device}: {sensor} reaches {limit:.3g} {unit} in ~{eta_h:.2f} h"},
    {"name": "anomaly burst", "kind": "anomaly_rate", "window_s": 60, "min_events": 5,
     "severity": "info", "message": "{device}/{sensor}: edge anomalies keep coming"},
)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "demo", help="run broker, cloud, gateway and a simulated fleet on this machine",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--duration", type=float, default=0.0, metavar="SECONDS",
                   help="stop after this long (default: run until Ctrl-C)")
    p.add_argument("--broker", metavar="URL",
                   help="use this MQTT broker (mqtt://HOST:PORT) instead of the embedded one")
    p.add_argument("--influx-url", metavar="URL",
                   help="store in this InfluxDB (v1 HTTP API) instead of SQLite")
    p.add_argument("--influx-database", default="iotgw", metavar="NAME")
    p.add_argument("--influx-username", default="", metavar="USER")
    p.add_argument("--influx-token", default=os.environ.get("IOTGW_DEMO_INFLUX_TOKEN", ""),
                   metavar="TOKEN", help="(default: $IOTGW_DEMO_INFLUX_TOKEN)")
    p.add_argument("--devices", type=int, default=10, metavar="N", help="fleet size (default 10)")
    p.add_argument("--rate", type=float, default=100.0, metavar="MSGS_PER_S",
                   help="messages per second for the whole fleet (default 100)")
    p.add_argument("--format", default="binary",
                   choices=("binary", "json", "senml-json", "senml-cbor"),
                   help="payload encoding the devices use (default binary)")
    p.add_argument("--data-dir", type=Path, metavar="DIR",
                   help="keep state, logs and the manifest here (default: a new temp dir)")
    p.set_defaults(func=run)


#: Third-party modules the demo's parts need (the 'demo' extra), checked before anything starts.
NEEDS = ("amqtt", "paho", "river", "fastapi", "uvicorn", "sqlalchemy")


def _check_installed() -> None:
    """Raise ``ModuleNotFoundError`` for the first missing module; the command root turns it
    into one line naming the extra."""
    for name in NEEDS:
        if importlib.util.find_spec(name) is None:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)


def _check_reachable(broker_url: str) -> None:
    """Fail fast, in one line, when ``--broker`` names a broker nobody answers for."""
    parts = urlsplit(broker_url)
    if parts.scheme not in {"mqtt", "mqtts"} or not parts.hostname:
        raise RuntimeError(f"--broker {broker_url!r}: expected mqtt://HOST:PORT")
    port = parts.port or (8883 if parts.scheme == "mqtts" else 1883)
    try:
        socket.create_connection((parts.hostname, port), timeout=5).close()
    except OSError as exc:
        raise RuntimeError(f"cannot reach the MQTT broker at {broker_url} ({exc.strerror or exc});"
                           " start it or check --broker") from None


def _post_json(url: str, body: dict[str, object], token: str) -> None:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json",
                                          "Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=10):
        pass


def _get_json(url: str, token: str) -> Any:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, timeout=2) as resp:
            return json.loads(resp.read())
    except (OSError, ValueError):
        return None


def _metrics(url: str) -> dict[str, float]:
    """Each sample of ``url``'s /metrics summed over its labels (empty when unreachable)."""
    from prometheus_client.parser import text_string_to_metric_families

    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            text = resp.read().decode("utf-8", "replace")
    except OSError:
        return {}
    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            totals[s.name] = totals.get(s.name, 0.0) + s.value
    return totals


class Demo:
    """The demo's parts, started in order and stopped in reverse."""

    def __init__(self, args: argparse.Namespace, data_dir: Path) -> None:
        self.args = args
        self.dir = data_dir
        self.broker: EmbeddedBroker | None = None
        self.children: list[ChildProcess] = []
        self.cloud_port = free_port()
        self.health_port = free_port()
        self.cloud_url = f"http://127.0.0.1:{self.cloud_port}"
        self.admin_token = ""  # made with the cloud's gateway token, in _start_cloud
        self.gateway_url = f"http://127.0.0.1:{self.health_port}"
        self.manifest = data_dir / "manifest.jsonl"

    def say(self, text: str) -> None:
        print(text, flush=True)

    def start(self) -> None:
        self.say(f"  dashboard {self.cloud_url}/ui/  (sign in with the token printed below)")
        broker_url = self.args.broker
        if broker_url is None:
            self.broker = EmbeddedBroker()
            self.broker.start()
            broker_url = self.broker.url
            self.say(f"  broker   embedded amqtt on {broker_url}")
        else:
            _check_reachable(broker_url)
            self.say(f"  broker   {broker_url}")
        token = self._start_cloud()
        self._start_gateway(broker_url, token)
        self._start_fleet(broker_url)

    def _influx(self) -> InfluxTarget | None:
        a = self.args
        if not a.influx_url:
            return None
        return InfluxTarget(a.influx_url, a.influx_database, a.influx_token, a.influx_username,
                            os.environ.get("IOTGW_DEMO_INFLUX_PASSWORD", ""))

    def _start_cloud(self) -> str:
        config = self.dir / "cloud.toml"
        config.write_text(cloud_toml(self.dir / "cloud", self.cloud_port, self._influx()))
        token = self._token(config, "token", "--gateway", "demo-gateway")
        self.admin_token = self._token(config, "admin-token", "--scope", "admin", "--name", "demo")
        viewer = self._token(config, "viewer-token", "--scope", "read", "--scope", "alerts:write",
                             "--name", "demo-dashboard")
        cloud = self._child("cloud", "cloud", "run", "--config", str(config))
        cloud.wait_http(f"{self.cloud_url}/readyz")
        for rule in DEMO_RULES:
            _post_json(f"{self.cloud_url}/v1/rules", rule, self.admin_token)
        store = "SQLite" if self.args.influx_url is None else f"InfluxDB {self.args.influx_url}"
        self.say(f"  cloud    {self.cloud_url}/docs  (store: {store})")
        self.say(f"  token    {viewer}  (read + alerts:write; paste it into the dashboard)")
        return token

    def _token(self, config: Path, name: str, *args: str) -> str:
        """``iotgw cloud token create ARGS``: the token it prints (once)."""
        log = self.dir / "logs" / f"{name}.log"
        made = ChildProcess(name, iotgw_command("cloud", "token", "create", *args,
                                                   "--config", str(config)), log)
        made.start()
        if made.wait(120) != 0:
            raise made.fail("could not create a token")
        return log.read_text().split()[0]

    def _start_gateway(self, broker_url: str, token: str) -> None:
        config = self.dir / "gateway.toml"
        config.write_text(gateway_toml(self.dir / "gateway", broker_url, self.cloud_url, token,
                                       self.health_port))
        gateway = self._child("gateway", "gateway", "run", "--config", str(config))
        gateway.wait_http(f"{self.gateway_url}/readyz")
        self.say(f"  gateway  {self.gateway_url}/metrics")

    def _start_fleet(self, broker_url: str) -> None:
        a = self.args
        duration = a.duration if a.duration > 0 else 365 * 86400.0
        wear = max(60.0, 0.8 * a.duration) if a.duration > 0 else 600.0
        self._child(
            "simulator", "sim", "run", "--broker", broker_url, "--devices", str(a.devices),
            "--rate", str(a.rate), "--duration", str(duration), "--format", a.format,
            "--faults", DEMO_FAULTS, "--degrade", f"dev-0001:{int(wear)}s",
            "--manifest", str(self.manifest), "--site", "demo-site",
        )
        self.say(f"  fleet    {a.devices} devices, {a.rate:g} msg/s, dev-0001 wears out over "
                 f"{int(wear)} s; faults {DEMO_FAULTS}")

    def _child(self, name: str, *args: str) -> ChildProcess:
        child = ChildProcess(name, iotgw_command(*args), self.dir / "logs" / f"{name}.log")
        child.start()
        self.children.append(child)
        return child

    def status_line(self) -> str:
        g = _metrics(f"{self.gateway_url}/metrics")
        c = _metrics(f"{self.cloud_url}/metrics")
        return (
            f"received {g.get('iotgw_gateway_messages_received_total', 0):.0f} msgs | "
            f"buffered {g.get('iotgw_gateway_buffer_rows', 0):.0f} rows | "
            f"dead-lettered {g.get('iotgw_gateway_dead_letters_total', 0):.0f} | "
            f"anomalies {g.get('iotgw_gateway_anomalies_total', 0):.0f} | "
            f"cloud stored {c.get('iotgw_cloud_ingest_readings_total', 0):.0f} readings | "
            f"alerts firing {len(self.firing())}"
        )

    def firing(self) -> list[dict[str, Any]]:
        alerts = _get_json(f"{self.cloud_url}/v1/alerts?state=firing", self.admin_token)
        return alerts if isinstance(alerts, list) else []

    def check_children(self) -> None:
        for child in self.children:
            if child.name != "simulator" and child.exit_code is not None:
                raise child.fail(f"exited with code {child.exit_code}")

    def drain(self, timeout: float = 15.0) -> None:
        """Stop the fleet, then give the gateway a moment to forward what it buffered."""
        for child in self.children:
            if child.name == "simulator":
                child.stop()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            g = _metrics(f"{self.gateway_url}/metrics")
            if not g or g.get("iotgw_gateway_buffer_rows", 0) == 0:
                return
            time.sleep(0.3)

    def promise_line(self) -> str:
        """Readings the broker acknowledged (manifest) against readings the cloud stored."""
        from simulators.manifest import expected_readings

        if not self.manifest.exists():
            return "no messages were published"
        acked = len(expected_readings(self.manifest))
        stored = _metrics(f"{self.cloud_url}/metrics").get("iotgw_cloud_ingest_readings_total", 0)
        verdict = "all stored" if stored >= acked else f"{acked - stored:.0f} not (yet) stored"
        return (f"{acked} readings acknowledged by the broker, {stored:.0f} stored by the cloud: "
                f"{verdict}")

    def stop(self) -> None:
        for child in reversed(self.children):
            child.stop()
        if self.broker is not None:
            self.broker.stop()


def _sleep_until(deadline: float, step: float) -> None:
    time.sleep(max(0.0, min(step, deadline - time.monotonic())))


def run(args: argparse.Namespace) -> int:
    _check_installed()
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="iotgw-demo-"))
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    tty = sys.stdout.isatty()
    demo = Demo(args, data_dir)

    def on_term(_sig: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    print(f"iotgw demo: starting (state and logs in {data_dir})", flush=True)
    try:
        demo.start()
        until = "Ctrl-C to stop" if args.duration <= 0 else f"{args.duration:g} s"
        print(f"running ({until}); dashboard: {demo.cloud_url}/ui/ · API docs: "
              f"{demo.cloud_url}/docs", flush=True)
        end = time.monotonic() + (args.duration if args.duration > 0 else float("inf"))
        last = 0.0
        while time.monotonic() < end:
            demo.check_children()
            if time.monotonic() - last >= (1.0 if tty else 5.0):
                last = time.monotonic()
                line = demo.status_line()
                print(f"\r\x1b[K{line}" if tty else line, end="" if tty else "\n", flush=True)
            _sleep_until(end, 0.2)
    except KeyboardInterrupt:
        print("\nstopping ...", flush=True)
    except (ChildFailed, OSError, RuntimeError) as exc:
        print(f"\niotgw demo: {exc}", file=sys.stderr)
        demo.stop()
        return 1
    if tty:
        print()
    try:
        demo.drain()
        print(f"final: {demo.status_line()}", flush=True)
        print(f"check: {demo.promise_line()}", flush=True)
        order = {"critical": 0, "warning": 1, "info": 2}
        for alert in sorted(demo.firing(), key=lambda a: order.get(str(a.get("severity")), 3))[:8]:
            print(f"alert: [{alert.get('severity')}] {alert.get('message')}", flush=True)
    finally:
        demo.stop()
    print(f"iotgw demo: stopped cleanly; logs and manifest in {data_dir}", flush=True)
    return 0
