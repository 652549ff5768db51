"""Interval aggregates of the readings: the InfluxQL that computes them and the line protocol
that writes them back (the cloud's scheduled downsampling, for stores without continuous
queries, such as InfluxDB 3; see docs/scaling.md).

One aggregate point per series and interval: tags ``device``, ``sensor`` (and ``site``), float
fields ``mean``, ``min``, ``max`` and an integer ``count``, stamped with the interval's start.
Writing the same interval again replaces the point (same series and timestamp), so a run may
recompute any past interval.

>>> aggregate_query('"readings"', 60_000, 180_000, 60)  # doctest: +NORMALIZE_WHITESPACE
'SELECT mean("value") AS "mean", min("value") AS "min", max("value") AS "max",
 count("value") AS "count" FROM "readings" WHERE time >= 60000ms AND time < 180000ms
 GROUP BY time(60s), "device", "sensor", "site" fill(none)'
>>> aggregate_lines([{"tags": {"device": "pump 7", "sensor": "t", "site": ""},
...                   "columns": ["time", "mean", "min", "max", "count"],
...                   "values": [[60000, 1.5, 1.0, 2.0, 2]]}], "readings_1m")
[b'readings_1m,device=pump\\\\ 7,sensor=t mean=1.5,min=1.0,max=2.0,count=2i 60000']
"""

from __future__ import annotations

from typing import Any

from cloud.store.escaping import measurement_escape, tag_escape

#: The aggregate fields, in the order the query names them.
FIELDS = ("mean", "min", "max", "count")
_TAGS = ("device", "sensor", "site")


def aggregate_query(source: str, start_ms: int, end_ms: int, every_s: int) -> str:
    """The aggregates of ``source`` (an escaped ``[rp.]measurement``) over ``[start, end)``."""
    return (f'SELECT mean("value") AS "mean", min("value") AS "min", max("value") AS "max", '
            f'count("value") AS "count" FROM {source} '
            f"WHERE time >= {int(start_ms)}ms AND time < {int(end_ms)}ms "
            f'GROUP BY time({int(every_s)}s), "device", "sensor", "site" fill(none)')


def aggregate_lines(series: list[dict[str, Any]], measurement: str) -> list[bytes]:
    """The query's result (InfluxDB's ``series`` list, epoch ms) as line protocol."""
    lines: list[bytes] = []
    name = measurement_escape(measurement)
    for s in series:
        tags = s.get("tags") or {}
        prefix = name + "".join(f",{k}={tag_escape(tags[k])}" for k in _TAGS if tags.get(k))
        pos = [s["columns"].index(f) for f in FIELDS]
        for row in s.get("values") or []:
            mean, low, high, count = (row[p] for p in pos)
            if count is None or mean is None:
                continue
            lines.append(f"{prefix} mean={float(mean)!r},min={float(low)!r},"
                         f"max={float(high)!r},count={int(count)}i {int(row[0])}".encode())
    return lines
