"""Per-device (multi-sensor) detection vs the per-stream default, on the simulator's wear-out.

    python bench/anomaly_device.py            # 4 machines, 1 reading a minute, 4 days
    python bench/anomaly_device.py --days 2 --seeds 3

One machine of each fleet wears out over the whole run and trips at its end
(:class:`simulators.signals.Degradation`); the others are healthy and fault-free. Both
detectors see the same readings through one :class:`gateway.detect.DetectorBank` (the per-stream
default on every reading, the joint model on every message). Printed per detector:

- **lead time**: hours between its first event on the wearing machine (after the first day,
  which is every model's calibration) and the trip; larger is better;
- **false alarms per healthy device-day**: events on the healthy machines after the first day.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.anomaly_sim import SimRun, simulate
from gateway.detect import DetectorBank, DetectSettings

DAY_MS = 86_400_000


@dataclass
class DeviceFigures:
    first_event_ms: dict[str, int | None]
    false_alarms: dict[str, int]
    healthy_days: float
    trip_ms: int


def measure(run: SimRun, worn: str) -> DeviceFigures:
    """Run the fleet through a bank with the joint model on; count each detector's events."""
    settings = DetectSettings(device_detector=True)
    first: dict[str, int | None] = {"stream": None, "device": None}
    false_alarms = {"stream": 0, "device": 0}
    after = run.start_ms + DAY_MS
    with tempfile.TemporaryDirectory() as tmp:
        bank = DetectorBank(settings, Path(tmp))
        bank.start()
        for (device, ts), group in groupby(simulate(run), key=lambda r: (r.device, r.ts_ms)):
            readings = list(group)
            kinds = [("stream", bank.observe(device, r.sensor, ts, r.value)) for r in readings]
            values = {r.sensor: r.value for r in readings}
            kinds.append(("device", bank.observe_device(device, ts, values)))
            for kind, event in kinds:
                if event is None or ts < after:
                    continue
                if device == worn:
                    first[kind] = first[kind] or ts
                else:
                    false_alarms[kind] += 1
    days = (run.seconds * 1000 - DAY_MS) / DAY_MS * (run.devices - 1)
    return DeviceFigures(first, false_alarms, days, run.start_ms + int(run.seconds * 1000))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--devices", type=int, default=4)
    p.add_argument("--days", type=float, default=4.0)
    p.add_argument("--per-minute", type=float, default=1.0, help="messages per device a minute")
    p.add_argument("--seeds", type=int, default=2)
    a = p.parse_args(argv)
    for seed in range(1, a.seeds + 1):
        run = SimRun(devices=a.devices, per_device_hz=a.per_minute / 60, seconds=a.days * 86400,
                     faults="", seed=seed, degrade=("dev-0000",))
        fig = measure(run, "dev-0000")
        for kind in ("stream", "device"):
            t = fig.first_event_ms[kind]
            lead = "never" if t is None else f"{(fig.trip_ms - t) / 3_600_000:6.1f} h"
            rate = fig.false_alarms[kind] / fig.healthy_days
            print(f"seed {seed} {kind:<6}: lead time before the trip {lead}; false alarms "
                  f"{fig.false_alarms[kind]} = {rate:.2f} per healthy device-day")
    return 0


if __name__ == "__main__":
    sys.exit(main())
