"""Codec throughput and size, as ratios against json.dumps/json.loads of the same messages.

    PYTHONPATH=. python bench/codecs.py              # a few seconds
    PYTHONPATH=. python bench/codecs.py --messages 20000 --repeat 5

For each codec: encode and decode rate (readings/s) and bytes per reading; the baseline is
``json.dumps``/``json.loads`` of the same messages as plain dicts (no validation), measured in
the same run. A ratio above 1 means faster (rates) or larger (bytes) than the baseline.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Callable, Sequence

from firmware_protocol.codecs import CODEC_NAMES, get_codec
from firmware_protocol.codecs.json import to_object
from firmware_protocol.model import Message, Quality, Reading

SENSORS = (("temperature", "Cel"), ("humidity", "%RH"), ("pressure", "hPa"),
           ("battery", "V"), ("door_open", None))


def fleet(count: int, seed: int = 7) -> list[Message]:
    """``count`` realistic 5-reading messages (decimals, a bool, the odd quality flag)."""
    rnd = random.Random(seed)
    out = []
    for i in range(count):
        readings = []
        for name, unit in SENSORS:
            value: float | bool = (rnd.random() < 0.1) if unit is None else round(
                rnd.uniform(-20, 1100), rnd.choice((1, 2)))
            quality = Quality.ESTIMATED if rnd.random() < 0.05 else Quality.OK
            readings.append(Reading(name, value, unit=unit, quality=quality))
        out.append(Message(f"dev-{i % 50:03d}", i, 1_700_000_000_000 + 1000 * i, tuple(readings)))
    return out


def best_time(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=3000, help="messages per run (5 readings)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; best counts")
    args = parser.parse_args(argv)
    msgs = fleet(args.messages)
    readings = 5 * len(msgs)

    objs = [to_object(m) for m in msgs]
    texts = [json.dumps(o) for o in objs]
    base_enc = readings / best_time(lambda: [json.dumps(o) for o in objs], args.repeat)
    base_dec = readings / best_time(lambda: [json.loads(t) for t in texts], args.repeat)
    base_size = sum(len(t.encode()) for t in texts) / readings
    print(f"{len(msgs)} messages x 5 readings, best of {args.repeat}")
    print(f"baseline json.dumps/json.loads: encode {base_enc:,.0f} readings/s, "
          f"decode {base_dec:,.0f} readings/s, {base_size:.1f} bytes/reading")
    print(f"{'codec':<11} {'enc r/s':>11} {'ratio':>6} {'dec r/s':>11} {'ratio':>6} "
          f"{'B/reading':>9} {'ratio':>6}")
    for name in CODEC_NAMES:
        codec = get_codec(name)
        payloads = [codec.encode(m) for m in msgs]
        assert [codec.decode(p) for p in payloads[:50]] == msgs[:50]
        enc = readings / best_time(lambda c=codec: [c.encode(m) for m in msgs], args.repeat)
        dec = readings / best_time(lambda c=codec, p=payloads: [c.decode(x) for x in p],
                                   args.repeat)
        size = sum(map(len, payloads)) / readings
        print(f"{name:<11} {enc:>11,.0f} {enc / base_enc:>6.2f} {dec:>11,.0f} "
              f"{dec / base_dec:>6.2f} {size:>9.1f} {size / base_size:>6.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
