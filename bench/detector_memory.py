"""Bytes per stream the gateway's detector bank holds in memory, traced with ``tracemalloc``.

    python bench/detector_memory.py                       # 5,000 streams x 40 readings
    python bench/detector_memory.py --streams 1000 --readings 2000

The streams are those of ``bench/gateway_intake.py`` (devices x 5 sensors, one reading a
second per stream, the same values), fed through :class:`DetectorBank` with the default
settings (detector sentinel). Printed: traced bytes per stream and in all, and the largest
allocation sites (where the bytes go).
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.detect.bank import DetectorBank
from gateway.detect.settings import DetectSettings

SENSORS = ("temperature", "vibration", "pressure", "humidity", "current")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--streams", type=int, default=5000)
    ap.add_argument("--readings", type=int, default=40, help="per stream (default 40)")
    ap.add_argument("--top", type=int, default=8, help="allocation sites to print")
    args = ap.parse_args()
    devices = [f"dev-{d:04d}" for d in range(args.streams // len(SENSORS))]
    streams = len(devices) * len(SENSORS)
    with tempfile.TemporaryDirectory() as tmp:
        bank = DetectorBank(DetectSettings(), Path(tmp))
        bank.start()
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        for i in range(args.readings):
            for d, device in enumerate(devices):
                for k, sensor in enumerate(SENSORS):
                    value = 20.0 + (i * 7 + k + d) % 13 / 3
                    bank.observe(device, sensor, 1_700_000_000_000 + i * 1000, value)
        gc.collect()
        used = tracemalloc.get_traced_memory()[0] - before
        top = tracemalloc.take_snapshot().statistics("lineno")[: args.top]
        tracemalloc.stop()
    print(f"{streams:,} streams x {args.readings:,} readings: {used / streams:,.0f} B/stream, "
          f"{used / 2**20:.1f} MB in all")
    for stat in top:
        print(f"  {stat}")


if __name__ == "__main__":
    main()
