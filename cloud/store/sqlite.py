"""The embedded SQLite store: the default for the quick start and single-box use.

One file (WAL), a ``readings`` table keyed by (device, sensor, ts) and an ``anomalies`` table
keyed by (device, sensor, ts, detector); ``INSERT OR REPLACE`` makes re-writing a point harmless,
as in InfluxDB. Aggregates match InfluxDB's definitions (see :mod:`cloud.store.aggregate`).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np

from cloud.errors import StoreUnavailable
from cloud.store.aggregate import bucket_aggregates
from cloud.store.base import (
    AnomalyPoint,
    Point,
    Rejection,
    SeriesResult,
    UnwritableName,
    WriteResult,
    check_point,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS readings (
    device TEXT NOT NULL, sensor TEXT NOT NULL, ts INTEGER NOT NULL, value REAL NOT NULL,
    seq INTEGER, quality INTEGER NOT NULL DEFAULT 0, unit TEXT, site TEXT,
    PRIMARY KEY (device, sensor, ts)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS anomalies (
    device TEXT NOT NULL, sensor TEXT NOT NULL, ts INTEGER NOT NULL, detector TEXT NOT NULL,
    value REAL NOT NULL, score REAL NOT NULL, expected_low REAL, expected_high REAL, site TEXT,
    PRIMARY KEY (device, sensor, ts, detector)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS anomalies_ts ON anomalies (ts);
"""
_P = TypeVar("_P", Point, AnomalyPoint)


def _writable(items: Sequence[_P], rejected: list[Rejection]) -> list[_P]:
    out = []
    for i, item in enumerate(items):
        try:
            check_point(item)
        except UnwritableName as exc:
            rejected.append(Rejection(i, "bad_name", str(exc)))
        else:
            out.append(item)
    return out


class SQLiteStore:
    """A :class:`~cloud.store.TimeSeriesStore` in one SQLite file."""

    kind = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        if self._conn is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, check_same_thread=False, timeout=30,
                               isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.executescript(_SCHEMA)
        self._conn = conn

    def stop(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreUnavailable("the SQLite store is not started")
        return self._conn

    def ping(self) -> None:
        with self._lock:
            try:
                self.conn.execute("SELECT 1").fetchone()
            except sqlite3.Error as exc:
                raise StoreUnavailable(f"SQLite store {self.path}: {exc}") from exc

    def write(self, points: Sequence[Point], anomalies: Sequence[AnomalyPoint]) -> WriteResult:
        result = WriteResult()
        rows = [(p.device, p.sensor, p.ts_ms, float(p.value), p.seq, p.quality, p.unit, p.site)
                for p in _writable(points, result.rejected)]
        arows = [(a.device, a.sensor, a.ts_ms, a.detector, float(a.value), float(a.score),
                  a.expected_low, a.expected_high, a.site)
                 for a in _writable(anomalies, result.anomalies_rejected)]
        with self._lock:
            try:
                conn = self.conn
                conn.execute("BEGIN IMMEDIATE")
                try:
                    conn.executemany(
                        "INSERT OR REPLACE INTO readings VALUES (?,?,?,?,?,?,?,?)", rows)
                    conn.executemany(
                        "INSERT OR REPLACE INTO anomalies VALUES (?,?,?,?,?,?,?,?,?)", arows)
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                raise StoreUnavailable(f"SQLite store {self.path}: {exc}") from exc
        return result

    def series(self, device: str, sensor: str, start_ms: int, end_ms: int, every_ms: int,
               aggs: Sequence[str]) -> SeriesResult:
        if set(aggs) <= {"mean", "min", "max", "count"}:
            return self._series_sql(device, sensor, start_ms, end_ms, every_ms, aggs)
        with self._lock:
            try:
                rows = self.conn.execute(
                    "SELECT ts, value FROM readings WHERE device=? AND sensor=? AND ts>=? AND ts<?"
                    " ORDER BY ts", (device, sensor, start_ms, end_ms)).fetchall()
            except sqlite3.Error as exc:
                raise StoreUnavailable(f"SQLite store {self.path}: {exc}") from exc
        arr = np.array(rows, dtype=float).reshape(-1, 2)
        return bucket_aggregates(arr[:, 0].astype(np.int64), arr[:, 1], every_ms, aggs)

    def _series_sql(self, device: str, sensor: str, start_ms: int, end_ms: int, every_ms: int,
                    aggs: Sequence[str]) -> SeriesResult:
        sql_agg = {"mean": "avg(value)", "min": "min(value)", "max": "max(value)",
                   "count": "count(value)"}
        cols = ", ".join(sql_agg[a] for a in aggs)
        with self._lock:
            try:
                rows = self.conn.execute(
                    f"SELECT ts - ts % ? AS b, {cols} FROM readings WHERE device=? AND sensor=?"
                    " AND ts>=? AND ts<? GROUP BY b ORDER BY b",
                    (every_ms, device, sensor, start_ms, end_ms)).fetchall()
            except sqlite3.Error as exc:
                raise StoreUnavailable(f"SQLite store {self.path}: {exc}") from exc
        out = SeriesResult([int(r[0]) for r in rows], {})
        for i, a in enumerate(aggs, start=1):
            out.columns[a] = [float(r[i]) for r in rows]
        return out

    def anomalies(self, device: str | None, sensor: str | None, start_ms: int, end_ms: int,
                  limit: int) -> list[AnomalyPoint]:
        where: list[str] = ["ts>=?", "ts<?"]
        args: list[object] = [start_ms, end_ms]
        for col, val in (("device", device), ("sensor", sensor)):
            if val is not None:
                where.append(f"{col}=?")
                args.append(val)
        with self._lock:
            try:
                rows = self.conn.execute(
                    "SELECT device, sensor, ts, value, score, detector, expected_low,"
                    f" expected_high, site FROM anomalies WHERE {' AND '.join(where)}"
                    " ORDER BY ts, device, sensor LIMIT ?", (*args, limit)).fetchall()
            except sqlite3.Error as exc:
                raise StoreUnavailable(f"SQLite store {self.path}: {exc}") from exc
        return [AnomalyPoint(*r) for r in rows]
