"""The one-pass line builder writes exactly the lines of the one-reading reference."""

from __future__ import annotations

import random

import pytest

from cloud.store import Point
from cloud.store.lineprotocol import reading_line, reading_lines, series_lines


def _points(n: int, seed: int) -> list[Point]:
    rnd = random.Random(seed)
    values = [lambda: rnd.uniform(-1e9, 1e9), lambda: float(rnd.randint(-5, 5)), lambda: True,
              lambda: False, lambda: 1e-300, lambda: -0.0, lambda: 7]
    return [Point(rnd.choice(["a b", "x,y", "d=1", "plain", "é\\x"]), rnd.choice(["s", "t t"]),
                  rnd.randint(946_684_800_000, 4_102_444_800_000), rnd.choice(values)(),
                  rnd.choice([None, rnd.randint(0, 2**32 - 1)]),
                  rnd.choice([None, None, "Cel", 'q"x\\']), rnd.randint(0, 255),
                  rnd.choice([None, "p 1", "p=2"]))
            for _ in range(n)]


@pytest.mark.parametrize("precision", ["ms", "s", "u", "ns"])
def test_batch_lines_are_the_reference_lines(precision):
    points = _points(3000, seed=len(precision))
    cache: dict = {}
    for _ in range(2):  # the second pass reads every prefix from the cache
        lines, index, bad = reading_lines(points, precision, cache)
        assert bad == [] and index == list(range(len(points)))
        assert lines == [reading_line(p, precision) for p in points]


def test_unwritable_names_are_reported_by_index_and_never_cached():
    points = [Point("ok", "s", 1, 1.0, 1), Point("bad\\", "s", 1, 1.0, 1),
              Point("ok", "tab\there", 1, 1.0), Point("ok", "s", 2, 2.0, 2)]
    cache: dict = {}
    lines, index, bad = reading_lines(points, "ms", cache)
    assert index == [0, 3] and [i for i, _why in bad] == [1, 2]
    assert lines == ["readings,device=ok,sensor=s value=1.0,seq=1i,quality=0i 1",
                     "readings,device=ok,sensor=s value=2.0,seq=2i,quality=0i 2"]
    assert list(cache) == [("ok", "s", None)]


def _same_line(ours: bytes, reference: str) -> bool:
    """Equal lines, the value field compared as the float InfluxDB parses."""
    a, b = ours.decode(), reference
    va, vb = a.split(" value=", 1)[1].split(",", 1), b.split(" value=", 1)[1].split(",", 1)
    return (a.split(" value=")[0] == b.split(" value=")[0] and va[1] == vb[1]
            and float(va[0]) == float(vb[0]))


@pytest.mark.parametrize("precision", ["ms", "s", "u", "ns"])
def test_series_lines_are_the_reference_lines(precision):
    points = [p for p in _points(2000, seed=7 + len(precision))
              if p.seq is not None and "\\" not in p.device]
    by_series: dict = {}
    for p in points:
        by_series.setdefault((p.device, p.sensor, p.site, p.unit), []).append(p)
    formats: dict = {}
    for (device, sensor, site, unit), ps in by_series.items():
        lines = series_lines(device, sensor, site, unit, [p.ts_ms for p in ps],
                             [float(p.value) for p in ps], [p.seq for p in ps],
                             [p.quality for p in ps], precision, formats)
        assert all(_same_line(ours, reading_line(p, precision))
                   for ours, p in zip(lines, ps, strict=True))
