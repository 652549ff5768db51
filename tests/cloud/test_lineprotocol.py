"""The one-pass line builder writes exactly the lines of the one-reading reference."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from cloud.store import Point
from cloud.store.lineprotocol import batch_lines, reading_line, reading_lines
from ingest_protocol.columns import Series


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


def _series(points: list[Point], quality: bool) -> tuple[list[Series], list[Point]]:
    """The points per series (batch positions in flattened order), and the points in that
    order."""
    by_series: dict = {}
    for p in points:
        by_series.setdefault((p.device, p.sensor, p.site, p.unit), []).append(p)
    series, ordered = [], []
    for (device, sensor, site, unit), ps in by_series.items():
        start = len(ordered)
        series.append(Series(device, sensor, site, unit, [p.ts_ms for p in ps],
                             [float(p.value) for p in ps], [p.seq for p in ps],
                             [p.quality if quality else 0 for p in ps],
                             list(range(start, start + len(ps)))))
        ordered += [p if quality else replace(p, quality=0) for p in ps]
    return series, ordered


@pytest.mark.parametrize("quality", [True, False])
@pytest.mark.parametrize("precision", ["ms", "s", "u", "ns"])
def test_series_lines_are_the_reference_lines(precision, quality):
    points = [p for p in _points(2000, seed=7 + len(precision))
              if p.seq is not None and "\\" not in p.device]
    series, ordered = _series(points, quality)
    templates: dict = {}
    for _ in range(2):  # the second pass reads every template from the cache
        block, index, bad = batch_lines(series, precision, templates)
        assert not bad and index == list(range(len(ordered)))
        assert all(_same_line(ours, reading_line(p, precision))
                   for ours, p in zip(block.lines(), ordered, strict=True))
        # the request body is those lines, each ending in a newline
        assert block.body(0, len(block)) == b"".join(line + b"\n" for line in block.lines())


def test_batch_lines_reject_whole_series_with_unwritable_names():
    series, _ordered = _series([Point("ok", "s", 1, 1.0, 1), Point("", "s", 2, 2.0, 2),
                                Point("ok", "s", 3, 3.0, 3)], quality=False)
    block, index, bad = batch_lines(series, "ms", {})
    assert index == [0, 1] and [pos for pos, _why in bad] == [1]
    assert block.lines() == [b"readings,device=ok,sensor=s value=1.0,seq=1i,quality=0i 1",
                     b"readings,device=ok,sensor=s value=3.0,seq=3i,quality=0i 3"]
