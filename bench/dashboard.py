"""The dashboard in a real Chromium: time from navigation to a drawn device page holding one
week of 1 Hz data for 5 sensors, and the page weight of all its assets (gzipped).

    python bench/dashboard.py                    # SQLite store; ~1-2 min in all
    python bench/dashboard.py --store influxdb   # a private influxd
    python bench/dashboard.py --days 1 --repeat 10

The same-run baseline is the raw API: the very requests the page makes (device, rules,
anomalies, five ``/v1/series`` at the automatic point budget) fetched with httpx, six at a
time like the browser. The ratio is page time over that: what the browser, the modules and
drawing the SVG add. Targets: a drawn page in <= 1 s, assets <= 300 KB gzipped.
Needs Debian's ``chromium`` and the ``playwright`` package (``pip install -e '.[dev]'``).
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cloud.app import create_app
from cloud.dashboard import STATIC_DIR
from cloud.settings import load_settings
from cloud.store import Point, create_store
from tests.support.http import UvicornThread
from tests.support.servers import InfluxDB, find_binary

DAY = 86_400_000
DEVICE = "press-01"
SENSORS = ("temperature", "pressure", "vibration", "current", "humidity")


def page_weight() -> tuple[int, int]:
    """(raw bytes, gzipped bytes) of every dashboard asset."""
    files = [p.read_bytes() for p in STATIC_DIR.rglob("*") if p.is_file()]
    return sum(map(len, files)), sum(len(gzip.compress(b, 9)) for b in files)


def load(settings: Any, days: int, now_ms: int) -> int:
    """One reading per second per sensor for ``days`` up to now, written to the store."""
    store = create_store(settings)
    store.start()
    n = days * 86_400
    start = now_ms - now_ms % 1000 - n * 1000
    try:
        for k, sensor in enumerate(SENSORS):
            for i in range(0, n, 50_000):
                pts = [Point(DEVICE, sensor, start + j * 1000,
                             20.0 + k + ((j % 86_400) / 8_640.0) + 0.3 * ((j * 7919) % 13) / 13,
                             j) for j in range(i, min(n, i + 50_000))]
                store.write(pts, [])
    finally:
        store.stop()
    return n * len(SENSORS)


def register(url: str, token: str, now_ms: int) -> None:
    """The device registry learns the device through the ingest API (newest reading, again)."""
    ts = now_ms - now_ms % 1000 - 1000
    body = {"gateway_id": "bench", "batch_id": "register", "readings": [
        {"device": DEVICE, "sensor": s, "ts": ts, "value": 20.0, "seq": 0} for s in SENSORS]}
    r = httpx.post(f"{url}/v1/ingest", json=body, timeout=30, headers={
        "Authorization": f"Bearer {token}", "Idempotency-Key": "bench-register"})
    r.raise_for_status()


def api_baseline(url: str, token: str, days: int) -> float:
    """The page's requests, fetched raw, six at a time (a browser's per-host limit)."""
    rng = {"start": f"-{days * 24}h", "end": "now"}
    calls: list[tuple[str, dict[str, str]]] = [
        (f"/v1/devices/{DEVICE}", {}), ("/v1/rules", {}),
        ("/v1/anomalies", {"device": DEVICE, **rng})]
    calls += [("/v1/series", {"device": DEVICE, "sensor": s, "agg": "mean,min,max", **rng})
              for s in SENSORS]
    with httpx.Client(base_url=url, timeout=60,
                      headers={"Authorization": f"Bearer {token}"}) as c:
        def get(call: tuple[str, dict[str, str]]) -> int:
            r = c.get(call[0], params=call[1])
            r.raise_for_status()
            return len(r.content)

        t0 = time.perf_counter()
        with ThreadPoolExecutor(6) as pool:
            list(pool.map(get, calls))
        return time.perf_counter() - t0


def page_time(browser: Any, url: str, token: str, days: int) -> float:
    """Navigation to five drawn charts, in a fresh browser context (nothing cached)."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        ctx.add_init_script(f"sessionStorage.setItem('iotgw.dashboard.token', {token!r})")
        page = ctx.new_page()
        t0 = time.perf_counter()
        page.goto(f"{url}/ui/#/device/{DEVICE}?range={days}d")
        page.locator("svg.chart path.line").nth(len(SENSORS) - 1).wait_for(timeout=60_000)
        elapsed = time.perf_counter() - t0
        points = page.locator("svg.chart path.line").first.get_attribute("data-points")
        assert points and int(points) > 100, points
        return elapsed
    finally:
        ctx.close()


def median_ms(xs: list[float]) -> str:
    return f"median {statistics.median(xs) * 1000:7.1f} ms (min {min(xs) * 1000:.1f})"


def run(settings: Any, days: int, repeat: int) -> tuple[list[float], list[float], int]:
    from playwright.sync_api import sync_playwright

    now = int(time.time() * 1000)
    n = load(settings, days, now)
    app = create_app(settings)
    with UvicornThread(app) as server, sync_playwright() as pw:
        register(server.url, app.state.services.tokens.create("bench")[1], now)
        token = app.state.services.tokens.create(scopes=["read"])[1]
        browser = pw.chromium.launch(executable_path=find_binary("chromium"),
                                     args=["--no-sandbox", "--disable-gpu"])
        try:
            api_baseline(server.url, token, days)  # warm-up: caches, connections
            page_time(browser, server.url, token, days)
            base, pages = [], []
            for _ in range(repeat):  # interleaved, so both see the same box
                base.append(api_baseline(server.url, token, days))
                pages.append(page_time(browser, server.url, token, days))
        finally:
            browser.close()
    return base, pages, n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--store", choices=("sqlite", "influxdb"), default="sqlite")
    args = ap.parse_args()
    if find_binary("chromium") is None:
        print("bench/dashboard.py needs Debian's chromium: sudo apt-get install chromium")
        return 2
    raw, packed = page_weight()
    with tempfile.TemporaryDirectory(prefix="iotgw-bench-ui-") as tmp:
        overrides: dict[str, Any] = {"data_dir": Path(tmp) / "cloud"}
        influx = None
        if args.store == "influxdb":
            influx = InfluxDB(Path(tmp) / "influx")
            influx.start()
            overrides["store"] = {"kind": "influxdb", "url": influx.url, "database": "ui",
                                  "timeout_s": 60}
        try:
            base, pages, n = run(load_settings(None, **overrides), args.days, args.repeat)
        finally:
            if influx is not None:
                influx.stop()
    print(f"{n:,} readings ({len(SENSORS)} sensors x {args.days} d at 1 Hz), store "
          f"{args.store}, {args.repeat} runs each, interleaved")
    print(f"page weight (all assets)           : {raw / 1024:.1f} KB raw, "
          f"{packed / 1024:.1f} KB gzipped (limit 300 KB)")
    print(f"raw API fetch of the page's data   : {median_ms(base)}")
    print(f"navigation -> drawn device page    : {median_ms(pages)} (target <= 1000 ms)")
    print(f"ratio page/raw API (median)        : "
          f"{statistics.median(pages) / statistics.median(base):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
