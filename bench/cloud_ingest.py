"""Ingest throughput: POST /v1/ingest -> InfluxDB against the same line protocol posted straight
to the same ``influxd`` (same batches, gzip, precision), plus /v1/ingest -> SQLite.

    python bench/cloud_ingest.py                 # ~100k readings, a few seconds
    python bench/cloud_ingest.py --readings 1000000 --concurrency 4

The cloud runs as deployed, ``iotgw cloud run`` in its own process(es). Bodies are built before
the clock starts on both sides, so the ratio measures the cloud service's overhead (HTTP, JSON,
validation, idempotency, line protocol) over InfluxDB's own write path. Target: ratio >= 0.8.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import tomli_w

from cloud.store import Point
from cloud.store.lineprotocol import reading_line
from tests.support.servers import InfluxDB, free_port

ROOT = Path(__file__).resolve().parents[1]

T0 = 1_700_000_000_000


def make_batches(n: int, batch: int, devices: int = 50, sensors: int = 4) -> list[list[dict]]:
    readings = []
    for i in range(n):
        k = i % (devices * sensors)
        readings.append({"device": f"dev-{k // sensors:04d}", "sensor": f"s{k % sensors}",
                         "ts": T0 + (i // (devices * sensors)) * 1000,
                         "value": round(20 + (i % 97) * 0.1, 3), "seq": i % 2**32,
                         "site": "plant-1"})
    return [readings[i:i + batch] for i in range(0, n, batch)]


def run_parallel(fn, items: list, concurrency: int) -> float:
    t0 = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        for _ in pool.map(fn, items):
            pass
    return time.perf_counter() - t0


def bench_direct(influx: InfluxDB, batches: list[list[dict]], concurrency: int) -> float:
    influx.create_database("direct")
    bodies = [gzip.compress("\n".join(
        reading_line(Point(r["device"], r["sensor"], r["ts"], float(r["value"]), r["seq"],
                           None, 0, r["site"]), "ms") for r in b).encode(), 1) for b in batches]
    client = httpx.Client(base_url=influx.url, timeout=60,
                          limits=httpx.Limits(max_connections=concurrency))

    def post(body: bytes) -> None:
        r = client.post("/write", params={"db": "direct", "precision": "ms"}, content=body,
                        headers={"Content-Encoding": "gzip"})
        assert r.status_code == 204, r.text

    try:
        return run_parallel(post, bodies, concurrency)
    finally:
        client.close()


class CloudProcess:
    """``iotgw cloud run`` in its own process (as deployed), on a free loopback port."""

    def __init__(self, workdir: Path, store: dict, workers: int) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        workdir.mkdir(parents=True, exist_ok=True)
        self.config = workdir / "cloud.toml"
        self.config.write_text(tomli_w.dumps({
            "data_dir": str(workdir / "data"), "store": store,
            "server": {"port": self.port, "workers": workers, "log_level": "warning"},
            "limits": {"max_concurrent_ingest": 64}}))
        self.env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.proc: subprocess.Popen[bytes] | None = None

    def token(self) -> str:
        out = subprocess.run([sys.executable, "-m", "simulators.iotgw", "cloud", "token",
                              "create", "--gateway", "bench", "--config", str(self.config)],
                             capture_output=True, text=True, env=self.env, check=True)
        return out.stdout.strip()

    def __enter__(self) -> CloudProcess:
        self.proc = subprocess.Popen([sys.executable, "-m", "simulators.iotgw", "cloud", "run",
                                      "--config", str(self.config)], env=self.env)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("the cloud service did not become ready")

    def __exit__(self, *_exc: object) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(30)


def bench_cloud(workdir: Path, store: dict, batches: list[list[dict]], concurrency: int,
                workers: int) -> float:
    cloud = CloudProcess(workdir, store, workers)
    token = cloud.token()
    bodies = [(f"batch-{i}", gzip.compress(json.dumps(
        {"gateway_id": "bench", "batch_id": f"batch-{i}", "sent_at": T0, "readings": b}
    ).encode(), 1)) for i, b in enumerate(batches)]
    with cloud, httpx.Client(base_url=cloud.url, timeout=60,
                             limits=httpx.Limits(max_connections=concurrency)) as client:

        def post(item: tuple[str, bytes]) -> None:
            key, body = item
            r = client.post("/v1/ingest", content=body, headers={
                "Authorization": f"Bearer {token}", "Idempotency-Key": key,
                "Content-Encoding": "gzip", "Content-Type": "application/json"})
            assert r.status_code == 200 and not r.json()["rejected"], r.text

        post(("warm-up", bodies[0][1]))
        return run_parallel(post, bodies, concurrency)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--readings", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=5000, help="readings per request")
    ap.add_argument("--concurrency", type=int, default=2, help="requests in flight")
    ap.add_argument("--workers", type=int, default=1, help="cloud worker processes")
    args = ap.parse_args()
    batches = make_batches(args.readings, args.batch)
    n = args.readings
    with tempfile.TemporaryDirectory(prefix="iotgw-bench-") as tmp:
        influx = InfluxDB(Path(tmp) / "influx")
        influx.start()
        try:
            # Warm-up (shard creation, imports, JIT of the first code paths).
            warm = make_batches(2000, 1000)
            bench_direct(influx, warm, 1)
            direct_s = bench_direct(influx, batches, args.concurrency)
            store = {"kind": "influxdb", "url": influx.url, "database": "cloud",
                     "batch_size": args.batch}
            cloud_s = bench_cloud(Path(tmp) / "c1", store, batches, args.concurrency,
                                  args.workers)
            sqlite_s = bench_cloud(Path(tmp) / "c2", {"kind": "sqlite"}, batches,
                                   args.concurrency, args.workers)
        finally:
            influx.stop()
    direct, cloud, sqlite = n / direct_s, n / cloud_s, n / sqlite_s
    print(f"readings: {n}, batch: {args.batch}, concurrency: {args.concurrency}, "
          f"cloud workers: {args.workers}")
    print(f"direct line protocol -> influxd : {direct:10.0f} points/s")
    print(f"POST /v1/ingest -> InfluxDB     : {cloud:10.0f} points/s")
    print(f"POST /v1/ingest -> SQLite       : {sqlite:10.0f} points/s")
    print(f"ratio ingest/direct (InfluxDB)  : {cloud / direct:.2f}  (target >= 0.8)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
