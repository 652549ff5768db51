"""``/v1/series`` latency over a week of 1 Hz data for one sensor, at automatic resolution.

    python bench/cloud_query.py             # 7 days at 1 Hz = 604,800 points; ~15 s in all
    python bench/cloud_query.py --days 1 --repeat 50

For InfluxDB the same-run baseline is the equivalent InfluxQL query posted straight to the same
``influxd``; the ratio is API latency over direct latency (the cost of parsing, choosing
``every``, the HTTP hop and JSON encoding). The SQLite store is timed through the same API.
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cloud.app import create_app
from cloud.settings import load_settings
from cloud.store import Point, SQLiteStore
from cloud.store.lineprotocol import reading_line
from cloud.timeparse import auto_every
from tests.support.http import UvicornThread
from tests.support.servers import InfluxDB

DAY = 86_400_000
END = 1_700_006_400_000  # a whole day (UTC midnight)


def points(days: int) -> list[Point]:
    start = END - days * DAY
    return [Point("pump-1", "temperature", start + i * 1000, 20.0 + (i % 3600) * 0.001, i)
            for i in range(days * 86_400)]


def load_influx(influx: InfluxDB, pts: list[Point]) -> None:
    influx.create_database("week")
    cache: dict = {}
    with httpx.Client(base_url=influx.url, timeout=120) as client:
        for i in range(0, len(pts), 10_000):
            body = "\n".join(reading_line(p, "ms", cache) for p in pts[i:i + 10_000])
            r = client.post("/write", params={"db": "week", "precision": "ms"},
                            content=gzip.compress(body.encode(), 1),
                            headers={"Content-Encoding": "gzip"})
            assert r.status_code == 204, r.text


def timed(fn, repeat: int) -> list[float]:
    fn()  # warm-up
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def api_latency(settings_overrides: dict, days: int, repeat: int, aggs: str) -> list[float]:
    app = create_app(load_settings(None, **settings_overrides))
    params = {"device": "pump-1", "sensor": "temperature", "start": str(END - days * DAY),
              "end": str(END), "agg": aggs}
    with UvicornThread(app) as server, httpx.Client(base_url=server.url, timeout=60) as c:
        _info, token = app.state.services.tokens.create(scopes=["read"])
        c.headers["Authorization"] = f"Bearer {token}"

        def call() -> None:
            r = c.get("/v1/series", params=params)
            assert r.status_code == 200 and r.json()["t"], r.text
        return timed(call, repeat)


def direct_latency(influx: InfluxDB, days: int, repeat: int, every_ms: int) -> list[float]:
    q = (f'SELECT mean("value") AS "mean", max("value") AS "max", percentile("value", 95) '
         f'AS "p95" FROM "readings" WHERE "device" = \'pump-1\' AND "sensor" = \'temperature\' '
         f"AND time >= {END - days * DAY}ms AND time < {END}ms GROUP BY time({every_ms}ms) "
         "fill(none)")
    with httpx.Client(base_url=influx.url, timeout=60) as c:
        def call() -> None:
            r = c.get("/query", params={"db": "week", "q": q, "epoch": "ms"})
            assert r.status_code == 200 and "series" in r.text, r.text
        return timed(call, repeat)


def fmt(xs: list[float]) -> str:
    xs = sorted(xs)
    return (f"median {statistics.median(xs) * 1000:7.1f} ms, "
            f"p95 {xs[int(0.95 * (len(xs) - 1))] * 1000:7.1f} ms")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--repeat", type=int, default=10)
    args = ap.parse_args()
    pts = points(args.days)
    budget = load_settings(None).limits.series_point_budget
    every = auto_every(args.days * DAY, budget - 1)
    aggs = "mean,max,p95"
    with tempfile.TemporaryDirectory(prefix="iotgw-bench-") as tmp:
        influx = InfluxDB(Path(tmp) / "influx")
        influx.start()
        try:
            load_influx(influx, pts)
            direct = direct_latency(influx, args.days, args.repeat, every)
            store = {"kind": "influxdb", "url": influx.url, "database": "week"}
            api_influx = api_latency({"data_dir": Path(tmp) / "c1", "store": store},
                                     args.days, args.repeat, aggs)
        finally:
            influx.stop()
        sqlite = SQLiteStore(Path(tmp) / "c2" / "series.sqlite3")
        sqlite.start()
        sqlite.write(pts, [])
        sqlite.stop()
        api_sqlite = api_latency({"data_dir": Path(tmp) / "c2"}, args.days, args.repeat, aggs)
        api_sqlite_mean = api_latency({"data_dir": Path(tmp) / "c2"}, args.days, args.repeat,
                                      "mean")
    print(f"{len(pts)} points ({args.days} d at 1 Hz), automatic every = {every // 1000} s "
          f"(point budget {budget}), aggregates {aggs}, {args.repeat} runs each")
    print(f"direct InfluxQL to influxd      : {fmt(direct)}")
    print(f"GET /v1/series -> InfluxDB       : {fmt(api_influx)}")
    print(f"GET /v1/series -> SQLite         : {fmt(api_sqlite)}")
    print(f"GET /v1/series -> SQLite (mean)  : {fmt(api_sqlite_mean)}")
    ratio = statistics.median(api_influx) / statistics.median(direct)
    print(f"ratio API/direct latency (InfluxDB, median): {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
