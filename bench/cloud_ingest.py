"""Ingest throughput: POST /v1/ingest -> InfluxDB against the same line protocol posted straight
to the same ``influxd`` (same batches, gzip, precision), plus /v1/ingest -> SQLite.

    python bench/cloud_ingest.py                 # ~100k readings, a few seconds
    python bench/cloud_ingest.py --rounds 3      # interleaved rounds, median ratio (noisy box)
    python bench/cloud_ingest.py --readings 1000000 --concurrency 4 --workers 2
    python bench/cloud_ingest.py --encodings msgpack   # only the compact batch
    python bench/cloud_ingest.py --readings 500000     # CPU per point to 0.02 us (10 ms ticks)

Both batch encodings are measured in each round: the JSON batch and the compact one
(``application/vnd.iotgw.batch.v1+msgpack``, readings per series, what the gateway sends by
default), each as a ratio to the direct write of the same round.

The cloud runs as deployed, ``iotgw cloud run`` in its own process(es). Bodies are built before
the clock starts on both sides, so the ratio measures the cloud service's overhead (HTTP, JSON,
validation, idempotency, line protocol, alerting listener) over InfluxDB's own write path.
Both sides send the same points in the same batches with the same concurrency, compression
(``store.gzip``, by default ``auto``: none toward this loopback influxd; ``--gzip true`` for
level 1 on both sides) and precision, each run into a database of its own on the same
``influxd`` (no run overwrites the points of an earlier one). CPU seconds per point of each
process (influxd, the cloud service, this client) are printed too: on a box with few cores
they say where the time goes, and each round prints the ratio those CPU figures allow when
every process is CPU-bound (the direct side's CPU per point over the cloud side's) with the
cloud CPU per point that a ratio of 0.8 would need. Target: ratio >= 0.8.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import msgspec
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cloud.settings import StoreSettings
from cloud.store import Point
from cloud.store.lineprotocol import reading_line
from ingest_protocol.compact import MSGPACK, group_entries
from tests.support.processes import CloudProcess
from tests.support.servers import InfluxDB

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


def cpu_s(pid: int | None) -> float:
    """CPU seconds (user + system) of a process and its children so far."""
    if pid is None:
        return time.process_time()
    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0.0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            t = p.cpu_times()
            total += t.user + t.system
    return total


@dataclass
class Run:
    """One timed phase: wall seconds and CPU seconds per process role."""

    wall_s: float
    cpu: dict[str, float]


def run_parallel(fn, items: list, concurrency: int, pids: dict[str, int | None]) -> Run:
    before = {k: cpu_s(pid) for k, pid in pids.items()}
    t0 = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        for _ in pool.map(fn, items):
            pass
    wall = time.perf_counter() - t0
    return Run(wall, {k: cpu_s(pid) - before[k] for k, pid in pids.items()})


def bench_direct(influx: InfluxDB, batches: list[list[dict]], concurrency: int,
                 compress: bool = True, database: str = "direct") -> Run:
    """The baseline: the same lines posted straight to influxd, gzip level 1 when the cloud
    compresses its writes too, into a fresh ``database`` (as each cloud run gets one)."""
    influx.create_database(database)
    bodies = ["\n".join(
        reading_line(Point(r["device"], r["sensor"], r["ts"], float(r["value"]), r["seq"],
                           None, 0, r["site"]), "ms") for r in b).encode() for b in batches]
    if compress:
        bodies = [gzip.compress(b, 1) for b in bodies]
    headers = {"Content-Encoding": "gzip"} if compress else {}
    client = httpx.Client(base_url=influx.url, timeout=60,
                          limits=httpx.Limits(max_connections=concurrency))

    def post(body: bytes) -> None:
        r = client.post("/write", params={"db": database, "precision": "ms"}, content=body,
                        headers=headers)
        assert r.status_code == 204, r.text

    try:
        return run_parallel(post, bodies, concurrency, _pids(influx, None))
    finally:
        client.close()


def _pids(influx: InfluxDB, cloud: CloudProcess | None) -> dict[str, int | None]:
    assert influx.proc is not None
    pids: dict[str, int | None] = {"influxd": influx.proc.pid, "client": None}
    if cloud is not None and cloud.proc is not None:
        pids["cloud"] = cloud.proc.pid
    return pids


CONTENT_TYPES = {"json": "application/json", "msgpack": MSGPACK}


def encode(batch_id: str, readings: list[dict], encoding: str) -> bytes:
    """A batch body as the gateway builds it (JSON, or the compact batch)."""
    env = {"gateway_id": "bench", "batch_id": batch_id, "sent_at": T0}
    if encoding == "json":
        return json.dumps({**env, "readings": readings}).encode()
    return msgspec.msgpack.encode({**env, "series": group_entries(readings), "anomalies": []})


def bench_cloud(workdir: Path, store: dict, batches: list[list[dict]], concurrency: int,
                workers: int, influx: InfluxDB, rules: int = 0, encoding: str = "json") -> Run:
    cloud = CloudProcess(workdir, store, {"max_concurrent_ingest": 64}, workers=workers)
    token = cloud.create_token("bench")
    admin = cloud.create_token(scopes=["admin"])
    bodies = [(f"batch-{i}", gzip.compress(encode(f"batch-{i}", b, encoding), 1))
              for i, b in enumerate(batches)]
    cloud.start()
    try:
        with httpx.Client(base_url=cloud.url, timeout=60,
                          limits=httpx.Limits(max_connections=concurrency)) as client:
            return _post_all(client, token, admin, bodies, concurrency, influx, cloud, rules,
                             CONTENT_TYPES[encoding])
    finally:
        cloud.stop()


def _post_all(client: httpx.Client, token: str, admin: str, bodies: list[tuple[str, bytes]],
              concurrency: int, influx: InfluxDB, cloud: CloudProcess, rules: int,
              content_type: str) -> Run:
    def post(item: tuple[str, bytes]) -> None:
        key, body = item
        r = client.post("/v1/ingest", content=body, headers={
            "Authorization": f"Bearer {token}", "Idempotency-Key": key,
            "Content-Encoding": "gzip", "Content-Type": content_type})
        assert r.status_code == 200 and not r.json()["rejected"], r.text

    for i in range(rules):  # arrival rules the alerting listener evaluates per batch
        r = client.post("/v1/rules", json={"kind": "threshold", "name": f"hot-{i}",
                                           "op": "above", "limit": 1000.0 + i},
                        headers={"Authorization": f"Bearer {admin}"})
        assert r.status_code == 201, r.text
    post(("warm-up", bodies[0][1]))
    return run_parallel(post, bodies, concurrency, _pids(influx, cloud))


def cpu_bound(direct: Run, cloud: Run, n: int) -> str:
    """What the CPU figures say: the ratio a run where every process is CPU-bound on a shared
    box tends to (the CPU per point of the direct side over the cloud side's), and the cloud's
    CPU per point a ratio of 0.8 would allow at this round's influxd and client figures."""
    d = (direct.cpu["influxd"] + direct.cpu["client"]) / n * 1e6
    c_rest = (cloud.cpu["influxd"] + cloud.cpu["client"]) / n * 1e6
    c = cloud.cpu.get("cloud", 0.0) / n * 1e6
    return (f"CPU-bound ratio (CPU/point direct / cloud side): {d:.2f} / {c + c_rest:.2f} = "
            f"{d / (c + c_rest):.2f}; 0.8 needs cloud <= {d / 0.8 - c_rest:.2f} us/point "
            f"(now {c:.2f})")


def _line(label: str, n: int, run: Run) -> str:
    cpu = "  ".join(f"{k} {v / n * 1e6:5.2f}" for k, v in sorted(run.cpu.items()))
    return f"{label:34s}: {n / run.wall_s:9.0f} points/s   CPU us/point: {cpu}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--readings", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=5000, help="readings per request")
    ap.add_argument("--devices", type=int, default=50,
                    help="devices of 4 sensors each (streams: 4x; 1,250 gives a 5,000-reading "
                         "batch one reading per series, where per-series costs show)")
    ap.add_argument("--concurrency", type=int, default=2, help="requests in flight")
    ap.add_argument("--workers", type=int, default=1, help="cloud worker processes")
    ap.add_argument("--rounds", type=int, default=1,
                    help="interleaved direct/cloud rounds; the median ratio is reported")
    ap.add_argument("--gzip", choices=["auto", "true", "false"], default="auto",
                    help="the cloud's store.gzip (auto: off toward this loopback influxd); the "
                         "baseline compresses exactly when the cloud does")
    ap.add_argument("--no-gzip", action="store_const", const="false", dest="gzip",
                    help="same as --gzip false")
    ap.add_argument("--sqlite", action="store_true", help="also measure /v1/ingest -> SQLite")
    ap.add_argument("--rules", type=int, default=0,
                    help="threshold rules (never firing) the alerting listener evaluates")
    ap.add_argument("--encodings", default="json,msgpack",
                    help="batch encodings to measure, comma-separated (json, msgpack)")
    args = ap.parse_args()
    encodings = [e.strip() for e in args.encodings.split(",") if e.strip()]
    batches = make_batches(args.readings, args.batch, args.devices)
    n = args.readings
    ratios: dict[str, list[float]] = {e: [] for e in encodings}
    gzip_setting: bool | str = {"true": True, "false": False}.get(args.gzip, args.gzip)
    print(f"readings: {n}, batch: {args.batch}, streams: {4 * args.devices}, "
          f"concurrency: {args.concurrency}, "
          f"cloud workers: {args.workers}, store.gzip: {args.gzip}, "
          f"threshold rules: {args.rules}")
    with tempfile.TemporaryDirectory(prefix="iotgw-bench-") as tmp:
        influx = InfluxDB(Path(tmp) / "influx")
        influx.start()
        try:
            # Warm-up (shard creation, imports, JIT of the first code paths).
            compress = StoreSettings(url=influx.url, gzip=gzip_setting).compress_writes()
            print(f"writes to influxd gzip-compressed (both sides): {compress}")
            bench_direct(influx, make_batches(2000, 1000), 1, compress)
            for i in range(args.rounds):
                direct = bench_direct(influx, batches, args.concurrency, compress, f"d{i}")
                print(_line("direct line protocol -> influxd", n, direct))
                for enc in encodings:
                    store = {"kind": "influxdb", "url": influx.url, "database": f"c{i}{enc}",
                             "batch_size": args.batch, "gzip": gzip_setting}
                    cloud = bench_cloud(Path(tmp) / f"c{i}{enc}", store, batches,
                                        args.concurrency, args.workers, influx, args.rules, enc)
                    ratios[enc].append(direct.wall_s / cloud.wall_s)
                    print(_line(f"POST /v1/ingest ({enc}) -> InfluxDB", n, cloud))
                    print(f"ratio ingest/direct ({enc:7s})       : {ratios[enc][-1]:.2f}")
                    print("  " + cpu_bound(direct, cloud, n))
            if args.sqlite:
                lite = bench_cloud(Path(tmp) / "lite", {"kind": "sqlite"}, batches,
                                   args.concurrency, args.workers, influx, args.rules)
                print(_line("POST /v1/ingest -> SQLite", n, lite))
        finally:
            influx.stop()
    for enc, rs in ratios.items():
        print(f"median ratio ingest/direct (InfluxDB, {enc}) over {len(rs)} round(s): "
              f"{statistics.median(rs):.2f}  (target >= 0.8)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
