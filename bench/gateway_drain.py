"""Backlog drain rate to a local HTTP sink against the gateway's sustained intake rate.

    python bench/gateway_drain.py                  # ~20 s: a backlog of 20,000 messages
    python bench/gateway_drain.py --count 100000   # longer run
    python bench/gateway_drain.py --set uplink.max_in_flight=1   # a setting for both phases

1. ``iotgw gateway run`` (child process, default durability, detectors off) takes ``count``
   pre-loaded messages (1,000 devices x 5 sensors) from a real Mosquitto with its uplink pointed
   at a closed port: the **sustained intake rate** (readings/s acknowledged *and* processed into
   the buffer) and a backlog of ``count x 5`` buffered readings.
2. The gateway restarts with its uplink pointed at a local ingest sink (a child process that
   decompresses each batch, counts its readings, answers 200 ``{"accepted": n}`` and reports
   the time and count of each batch on its stdout) and drains the backlog: the **drain rate**
   (readings/s) from the first batch the sink receives to the last, timed by the sink: nothing
   polls the gateway meanwhile (a ``/metrics`` answer costs it ~1.5 ms of CPU, so polling it
   every 10 ms, as this script did, took ~10% of what it measured). Also printed: the CPU per
   drained reading of the gateway and of the sink over the same span.

Printed: both rates and drain/intake (target >= 5x: a gateway that was cut off for an hour
catches up in under 15 minutes while still taking live traffic).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import psutil
import tomli_w
from gateway_intake import SENSORS, metric, payloads, preload, start_gateway

from bench.overrides import add_set_argument, parse_sets
from tests.support.servers import Mosquitto, free_port

SINK = textwrap.dedent("""
    import gzip, json, sys, threading, time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    import msgspec

    class Series(msgspec.Struct):
        ts: msgspec.Raw  # counted from its MessagePack array header: no integer decoded

    class Batch(msgspec.Struct):
        series: list[Series]

    COMPACT = msgspec.msgpack.Decoder(Batch)
    OUT = threading.Lock()  # the gateway sends several batches at once: one line at a time

    def length(raw):
        b = bytes(raw)
        if b[0] & 0xF0 == 0x90:
            return b[0] & 0x0F
        return int.from_bytes(b[1:3] if b[0] == 0xDC else b[1:5], "big")

    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            if self.headers.get("Content-Type", "").endswith("msgpack"):
                n = sum(length(s.ts) for s in COMPACT.decode(body).series)
            else:
                n = body.count(b'"sensor":')
            out = json.dumps({"accepted": n, "rejected": []}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)
            with OUT:
                sys.stdout.write(f"{time.perf_counter()} {n}\\n")
                sys.stdout.flush()
        def log_message(self, *a):
            pass

    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
""")


#: ``--set section.key=value`` overrides of the gateway's configuration (TOML values).
OVERRIDES: dict[str, dict[str, object]] = {}


def config(tmp: Path, broker: Mosquitto, uplink: str, health: int) -> Path:
    cfg: dict[str, dict[str, object]] = {
        "gateway": {"id": "bench", "data_dir": str(tmp / "gw")},
        "mqtt": {"url": broker.url, "protocol": "5", "receive_maximum": 4000},
        "uplink": {"url": uplink, "breaker_reset_s": 600, "retry_min_s": 600,
                   "retry_max_s": 600, "linger_ms": 0},
        "health": {"port": health},
        "log": {"level": "WARNING"},
        "detect": {"enabled": False},
    }
    for section, values in OVERRIDES.items():
        cfg.setdefault(section, {}).update(values)
    path = tmp / "gateway.toml"
    path.write_bytes(tomli_w.dumps(cfg).encode())
    return path


def intake(broker: Mosquitto, tmp: Path, items: list[tuple[str, bytes]], health: int) -> float:
    """Readings/s the gateway takes in with durable commits (uplink unreachable)."""
    path = config(tmp, broker, f"http://127.0.0.1:{free_port()}", health)
    log = tmp / "gateway.log"
    proc = start_gateway(path, health, log)
    proc.terminate()
    proc.wait(30)
    preload(broker, items)
    proc = start_gateway(path, health, log)
    t0 = n0 = 0.0
    while True:
        got = metric(health, "iotgw_gateway_messages_total", outcome="buffered")
        now = time.perf_counter()
        if got > 0 and not t0:
            t0, n0 = now, got
        if got >= len(items):
            break
        time.sleep(0.02)
    proc.terminate()
    proc.wait(60)
    return (len(items) - n0) * len(SENSORS) / (now - t0)


def _cpu(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return float(times.user + times.system)


def drain(broker: Mosquitto, tmp: Path, total: int,
          health: int) -> tuple[float, float, float]:
    """Readings/s the gateway delivers from its backlog to the local sink (``total`` readings),
    and the CPU seconds per reading of the gateway and of the sink meanwhile, all from the
    first batch the sink answered to the last (the first batch's readings not counted)."""
    port = free_port()
    sink = psutil.Popen([sys.executable, "-c", SINK, str(port)], stdout=subprocess.PIPE,
                        text=True)
    assert sink.stdout is not None
    try:
        time.sleep(0.5)
        path = config(tmp, broker, f"http://127.0.0.1:{port}", health)
        proc = start_gateway(path, health, tmp / "gateway.log")
        first = sink.stdout.readline().split()
        cpu0, sink0 = _cpu(proc), _cpu(sink)
        t0, got, n0 = float(first[0]), int(first[1]), int(first[1])
        t1 = first[0]
        while got < total:
            t1, n = sink.stdout.readline().split()
            got += int(n)
        cpu, sink_cpu = _cpu(proc) - cpu0, _cpu(sink) - sink0
        deadline = time.monotonic() + 10  # the last answers may not be settled yet
        while (left := metric(health, "iotgw_gateway_buffer_rows")) and (
                time.monotonic() < deadline):
            time.sleep(0.05)
        proc.terminate()
        proc.wait(60)
    finally:
        sink.terminate()
        sink.wait()
    if got != total or left:
        raise SystemExit(f"the sink got {got} of {total} readings; {left} rows left")
    drained = got - n0
    return drained / (float(t1) - t0), cpu / drained, sink_cpu / drained


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=20_000, help="messages (default 20,000)")
    ap.add_argument("--devices", type=int, default=1000)
    add_set_argument(ap, "uplink.max_in_flight=1 (both phases)")
    args = ap.parse_args()
    OVERRIDES.update(parse_sets(ap, args.set))
    items = payloads(args.count, args.devices)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        broker = Mosquitto(tmp / "mq", extra_config="max_inflight_messages 4000")
        broker.start()
        health = free_port()
        try:
            intake_rate = intake(broker, tmp, items, health)
            drain_rate, cpu, sink_cpu = drain(broker, tmp, args.count * len(SENSORS), health)
        finally:
            broker.kill()
    print(f"backlog: {args.count} messages = {args.count * len(SENSORS)} readings "
          f"({args.devices} devices x {len(SENSORS)} sensors)")
    print(f"sustained intake (acked + processed):  {intake_rate:10,.0f} readings/s")
    print(f"backlog drain to a local HTTP sink:    {drain_rate:10,.0f} readings/s")
    print(f"CPU per drained reading: gateway {cpu * 1e6:.2f} us, sink {sink_cpu * 1e6:.2f} us")
    print(f"ratio drain/intake: {drain_rate / intake_rate:.1f}x  (target >= 5x)")


if __name__ == "__main__":
    main()
