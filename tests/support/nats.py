"""A real 3-node NATS Server cluster with JetStream and MQTT on free loopback ports.

Each node has its own ``server_name``, JetStream ``store_dir``, client, route, monitoring and
MQTT ports, and logs at debug level (JetStream leader elections and consumer assignments with
their times, for a failed run's report); the routes name every node, and
``mqtt { stream_replicas: 3 }`` makes the streams NATS keeps MQTT sessions and QoS 1 messages
in replicated on all three nodes, so any single node can be killed without losing an
acknowledged message. Nodes are killed, stopped and started again one by one (same ports, same
store) or all together. Nothing here mocks anything.

NATS 2.9's MQTT speaks 3.1.1 only (no MQTT 5), QoS 0 and 1 (a QoS 2 subscription is granted
QoS 1; a QoS 2 publish closes the connection), and needs a client id for persistent sessions.
"""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from iotgw.processes import LOOPBACK, ChildFailed, free_port, http_ok
from tests.support.servers import _Server, need_binary

NATS_HINT = ("install it with `sudo apt-get install nats-server` "
             "(or run `bash scripts/install-deps.sh`)")


class NatsNode(_Server):
    """One ``nats-server`` of a cluster; :class:`NatsCluster` writes its routes."""

    name = "nats"

    def __init__(self, workdir: Path, index: int, cluster_name: str = "iotgw",
                 ack_wait_s: float = 5.0) -> None:
        self.name = f"nats-{index}"
        super().__init__(workdir)
        self.binary = need_binary("nats-server", NATS_HINT)
        self.index = index
        self.cluster_name = cluster_name
        self.ack_wait_s = ack_wait_s
        self.host = LOOPBACK
        self.client_port = free_port()
        self.route_port = free_port()
        self.http_port = free_port()
        self.mqtt_port = free_port()
        self.routes: list[str] = []
        self.config_path = workdir / "nats.conf"

    @property
    def url(self) -> str:
        """The node's MQTT listener as a broker URL."""
        return f"mqtt://{self.host}:{self.mqtt_port}"

    @property
    def route_url(self) -> str:
        return f"nats-route://{self.host}:{self.route_port}"

    def config_text(self) -> str:
        routes = ", ".join(f'"{r}"' for r in self.routes)
        return f"""
server_name: "n{self.index}"
debug: true
listen: "{LOOPBACK}:{self.client_port}"
http: "{LOOPBACK}:{self.http_port}"
jetstream {{
  store_dir: "{self.workdir / 'jetstream'}"
  max_memory_store: 64MB
  max_file_store: 1GB
}}
cluster {{
  name: "{self.cluster_name}"
  listen: "{LOOPBACK}:{self.route_port}"
  routes: [{routes}]
}}
mqtt {{
  listen: "{LOOPBACK}:{self.mqtt_port}"
  stream_replicas: 3
  ack_wait: "{self.ack_wait_s}s"
  max_ack_pending: 1000
}}
"""

    def command(self) -> list[str]:
        self.config_path.write_text(self.config_text())
        return [self.binary, "-c", str(self.config_path), "-l", str(self.log_path)]

    def wait_ready(self) -> None:
        self.wait_port(self.mqtt_port, 20.0)
        self.wait_for(lambda: http_ok(f"http://{LOOPBACK}:{self.http_port}/varz", 1),
                      20.0, "answer /varz")


class NatsCluster:
    """Three (or ``size``) NATS nodes routed to each other; ``urls`` are their MQTT listeners."""

    def __init__(self, workdir: Path, size: int = 3) -> None:
        self.nodes = [NatsNode(workdir / f"n{i}", i) for i in range(size)]
        for node in self.nodes:
            node.routes = [n.route_url for n in self.nodes if n is not node]

    @property
    def urls(self) -> list[str]:
        return [n.url for n in self.nodes]

    def start(self, timeout: float = 60.0) -> None:
        """Start every node, then wait until MQTT sessions work (JetStream has a leader and
        the replicated MQTT streams exist) on every node."""
        for node in self.nodes:
            node.start()
        for node in self.nodes:
            node.wait_for(lambda n=node: mqtt_session_works(n.mqtt_port), timeout,  # type: ignore[misc]
                          "accept an MQTT persistent session")

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def kill(self) -> None:
        for node in self.nodes:
            node.kill()

    def node_of(self, url: str) -> NatsNode:
        return next(n for n in self.nodes if n.url == url)

    def log_tails(self, lines: int = 15) -> str:
        return "\n".join(f"--- {n.name}:\n{n.log_tail(lines)}" for n in self.nodes)

    def jetstream_events(self) -> str:
        """Each node's JetStream recovery and leadership lines for the MQTT message stream since
        its last start: messages restored, consumers recovered, messages purged at recovery
        (an interest stream drops what no recovered consumer still needs), stream and consumer
        leaders elected, with their times."""
        wanted = ("Starting nats-server", "for stream '$G > $MQTT_msgs'",
                  "for stream - '$G > $MQTT_msgs'", "'$G > $MQTT_msgs' auto purged",
                  "new stream leader for '$G > $MQTT_msgs'",
                  "new consumer leader for '$G > $MQTT_msgs")
        out = []
        for node in self.nodes:
            try:
                lines = node.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
            except OSError:
                continue
            starts = [i for i, line in enumerate(lines) if "Starting nats-server" in line]
            since = lines[starts[-1] if starts else 0:]
            out.append(f"--- {node.name} JetStream events since its last start:")
            out += [line for line in since if any(w in line for w in wanted)]
            # A replica skips a stream entry whose sequence it already holds: normal while it
            # replays its log at start, a sign of two entries at one sequence when the entry is
            # newer than every node's last sequence at start (the last few lines say which).
            skips = [line for line in since
                     if "'$G > $MQTT_msgs' skipping message with sequence" in line]
            out += skips[-3:]
        return "\n".join(out)

    def consumers_on_every_node(self, prefix: str = "") -> bool:
        """Whether every node hosts the same, non-empty set of ``$MQTT_msgs`` consumers whose
        names start with ``prefix``. A durable consumer (one per QoS 1 subscription of a
        persistent session) is created by a quorum; a node that had not created it yet when
        the whole cluster went down restarts without it, and while such a node leads the
        interest-retention stream it acknowledges QoS 1 publishes and stores nothing
        (docs/scaling.md)."""
        seen = [frozenset(n for n in msgs_consumers(node) if n.startswith(prefix))
                for node in self.nodes]
        return bool(seen[0]) and len(set(seen)) == 1

    def stream_report(self) -> str:
        """Each running node's view of the stream NATS keeps MQTT QoS 1 messages in
        (``$MQTT_msgs``, interest retention): its messages and, per consumer (one per QoS 1
        subscription of a persistent session), what is pending delivery, waiting for a PUBACK
        and redelivered. Tells "stored but not delivered" apart from "never stored"."""
        lines = []
        for node in self.nodes:
            if not node.running:
                lines.append(f"{node.name}: not running")
                continue
            try:
                lines.append(f"{node.name}: {_msgs_stream_state(node)}")
            except (httpx.HTTPError, ValueError, KeyError) as exc:
                lines.append(f"{node.name}: /jsz failed: {exc}")
        return "\n".join(lines)


def msgs_consumers(node: NatsNode) -> set[str]:
    """The ``$MQTT_msgs`` consumers the node hosts (empty when it hosts none or is down)."""
    try:
        stream = _msgs_stream(node)
    except (httpx.HTTPError, ValueError):
        return set()
    return {c["name"] for c in (stream or {}).get("consumer_detail") or []}


def msgs_leader(node: NatsNode) -> str | None:
    """The ``server_name`` of the ``$MQTT_msgs`` leader as ``node`` sees it."""
    try:
        stream = _msgs_stream(node)
    except (httpx.HTTPError, ValueError):
        return None
    leader = ((stream or {}).get("cluster") or {}).get("leader")
    return str(leader) if leader else None


def _msgs_stream(node: NatsNode) -> dict[str, Any] | None:
    """The node's ``/jsz`` entry of ``$MQTT_msgs`` (with its consumers), if it hosts one."""
    jsz = httpx.get(f"http://{LOOPBACK}:{node.http_port}/jsz",
                    params={"streams": 1, "consumers": 1}, timeout=5).json()
    for account in jsz.get("account_details") or []:
        for stream in account.get("stream_detail") or []:
            if stream["name"] == "$MQTT_msgs":
                return dict(stream)
    return None


def _msgs_stream_state(node: NatsNode) -> str:
    stream = _msgs_stream(node)
    if stream is None:
        return "no $MQTT_msgs stream"
    st = stream["state"]
    leader = (stream.get("cluster") or {}).get("leader")
    consumers = "; ".join(
        f"{c['name']}: pending={c.get('num_pending')} "
        f"ack_pending={c.get('num_ack_pending')} "
        f"redelivered={c.get('num_redelivered')} "
        f"leader={(c.get('cluster') or {}).get('leader')}"
        for c in stream.get("consumer_detail") or [])
    return (f"$MQTT_msgs leader={leader} messages={st['messages']} "
            f"first={st['first_seq']} last={st['last_seq']} consumers: {consumers}")


def mqtt_session_works(port: int, timeout: float = 5.0) -> bool:
    """Whether a persistent-session MQTT 3.1.1 client can connect and subscribe at QoS 1."""
    done = threading.Event()
    ok: list[bool] = []
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"probe-{port}",
                         clean_session=True, protocol=mqtt.MQTTv311)

    def on_connect(c: mqtt.Client, _u: object, _f: object, reason: object, _p: object) -> None:
        if getattr(reason, "is_failure", True):
            done.set()
            return
        c.subscribe("iotgw/probe", 1)

    def on_subscribe(_c: mqtt.Client, _u: object, _m: int, reasons: list[object],
                     _p: object) -> None:
        ok.append(not any(getattr(r, "is_failure", True) for r in reasons))
        done.set()

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    try:
        client.connect(LOOPBACK, port, 10)
    except OSError:
        return False
    client.loop_start()
    try:
        done.wait(timeout)
    finally:
        with contextlib.suppress(Exception):
            client.disconnect()
        client.loop_stop()
    return bool(ok and ok[0])


def start_cluster(workdir: Path, attempts: int = 3) -> NatsCluster:
    """A started :class:`NatsCluster`; fresh ports are tried when one was taken between being
    picked free and bound (``address already in use``), the one race free ports cannot rule
    out (a node's log says which)."""
    for attempt in range(1, attempts + 1):
        cluster = NatsCluster(workdir / f"try{attempt}")
        try:
            cluster.start()
        except ChildFailed as exc:
            cluster.kill()
            if "address already in use" not in str(exc) or attempt == attempts:
                raise
            continue
        return cluster
    raise AssertionError("unreachable")
