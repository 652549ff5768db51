"""Reconcile the simulator's manifest against what InfluxDB really holds.

A reading is identified by ``(device, seq, sensor)``. The cloud writes ``seq`` as a field of each
point in measurement ``readings`` (tags ``device``, ``sensor``), so we read every point back with
its seq and count points per identity. InfluxDB overwrites a point with the same series and
timestamp, which makes a harmless re-write invisible - but anything that stored a reading twice
under different timestamps (or a wrong seq) shows up here as a count above one, and a reading
overwritten by another one shows up as lost. Values are compared too.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ReadingKey = tuple[str, int, str]


@dataclass
class Stored:
    """Every point of ``readings``: how many times each identity is present, and its values."""

    counts: Counter[ReadingKey] = field(default_factory=Counter)
    values: dict[ReadingKey, tuple[int, float]] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def influx_query(url: str, db: str, q: str, auth: tuple[str, str] | None = None,
                 client: httpx.Client | None = None) -> list[Any]:
    """Run InfluxQL on the v1 API (epoch in ms); returns the ``series`` list (maybe empty).
    A caller that polls passes its own ``client`` (one kept-alive connection; a new client per
    call builds a TLS context each time)."""
    params = {"db": db, "q": q, "epoch": "ms"}
    if client is not None:
        resp = client.get(f"{url}/query", params=params, auth=auth or httpx.USE_CLIENT_DEFAULT)
    else:
        resp = httpx.get(f"{url}/query", params=params, auth=auth, timeout=30.0)
    resp.raise_for_status()
    results = resp.json()["results"]
    if "error" in results[0]:
        raise RuntimeError(f"InfluxDB: {results[0]['error']} for {q}")
    return list(results[0].get("series", []))


def stored_readings(url: str, db: str, auth: tuple[str, str] | None = None) -> Stored:
    """Every point in ``readings`` with its ``seq`` field, grouped by device and sensor."""
    stored = Stored()
    series = influx_query(
        url, db, 'SELECT "seq", "value" FROM "readings" GROUP BY "device", "sensor"', auth
    )
    for s in series:
        device, sensor = s["tags"]["device"], s["tags"]["sensor"]
        cols = s["columns"]
        i_t, i_seq, i_val = cols.index("time"), cols.index("seq"), cols.index("value")
        for row in s["values"]:
            if row[i_seq] is None or row[i_val] is None:
                # A point's fields become visible one by one while influxd writes it; until
                # both are there it is not counted (and if it stays so, it counts as lost).
                continue
            key = (device, int(row[i_seq]), sensor)
            stored.counts[key] += 1
            stored.values[key] = (int(row[i_t]), float(row[i_val]))
    return stored


def stored_anomalies(url: str, db: str,
                     auth: tuple[str, str] | None = None) -> list[dict[str, Any]]:
    """Every point in ``anomalies`` as a dict with its tags."""
    out: list[dict[str, Any]] = []
    for s in influx_query(url, db, 'SELECT * FROM "anomalies" GROUP BY *', auth):
        for row in s["values"]:
            out.append(dict(zip(s["columns"], row, strict=True)) | s.get("tags", {}))
    return out


@dataclass
class Reconciliation:
    """What a run delivered, against what the manifest says must be there."""

    expected: int
    stored: int
    lost: set[ReadingKey]
    duplicated: dict[ReadingKey, int]
    unexpected: set[ReadingKey]
    wrong_value: set[ReadingKey]

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicated or self.unexpected or self.wrong_value)

    def summary(self) -> str:
        def some(keys: Iterable[Any]) -> list[Any]:
            return sorted(keys)[:5]

        return (
            f"expected={self.expected} stored={self.stored} lost={len(self.lost)} "
            f"{some(self.lost)} duplicated={len(self.duplicated)} {some(self.duplicated)} "
            f"unexpected={len(self.unexpected)} {some(self.unexpected)} "
            f"wrong_value={len(self.wrong_value)} {some(self.wrong_value)}"
        )


def _same(a: float, b: float | int | bool) -> bool:
    return math.isclose(a, float(b), rel_tol=1e-9, abs_tol=1e-9)


def reconcile(manifest: Path, stored: Stored, exclude_faults: Iterable[str] = ()) -> Reconciliation:
    """Compare ``stored`` with the manifest's acknowledged, well-formed readings."""
    from simulators.manifest import expected_readings, expected_values, published_readings

    expected = expected_readings(manifest, exclude_faults=exclude_faults)
    may_arrive = published_readings(manifest)
    values = expected_values(manifest)
    keys = set(stored.counts)
    wrong = {
        k for k in keys & may_arrive
        if stored.values[k][0] != values[k][0] or not _same(stored.values[k][1], values[k][1])
    }
    return Reconciliation(
        expected=len(expected),
        stored=stored.total,
        lost=expected - keys,
        duplicated={k: n for k, n in stored.counts.items() if n > 1},
        unexpected=keys - may_arrive,
        wrong_value=wrong,
    )


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.5) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` seconds pass; errors count as false."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(Exception):
            if predicate():
                return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def wait_delivered(manifest: Path, url: str, db: str, timeout: float,
                   exclude_faults: Iterable[str] = (), settle_s: float = 1.0) -> Reconciliation:
    """Poll InfluxDB until nothing the manifest expects is missing (or ``timeout``), then settle
    briefly so late duplicates would show, and reconcile."""
    def nothing_lost() -> bool:
        return not reconcile(manifest, stored_readings(url, db), exclude_faults).lost

    if wait_until(nothing_lost, timeout):
        time.sleep(settle_s)
    return reconcile(manifest, stored_readings(url, db), exclude_faults)
