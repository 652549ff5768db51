"""Records what the ingest path sees, for pipeline health and the scheduled rules.

Per batch: the stream registry (newest device time, ingest lag, unit and value type, with
schema changes noted), readings per device per bucket (volume), readings on time for the SLA,
and edge anomaly events per stream per bucket (anomaly-rate rules). A few statements per
batch, all upserts, so several replicas can record side by side.
"""

from __future__ import annotations

import functools
import json
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from operator import attrgetter
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from cloud.alerting.core.db import Database
from cloud.alerting.core.listener import (
    AnomalyLike,
    IngestedReading,
    ReadingLike,
    SeriesLike,
)
from cloud.alerting.core.sql import increment, retrying, upsert
from cloud.alerting.monitors.tables import (
    anomaly_buckets,
    schema_changes,
    sla_buckets,
    stream_stats,
)
from cloud.alerting.monitors.tables import volume_buckets as t_volume

_STREAMS_OF = select(stream_stats).where(
    stream_stats.c.device.in_(bindparam("devices", expanding=True)))
_DEVICE = attrgetter("device")
_SLA_COUNTS = ("readings", "on_time", "requests_ok", "requests_failed")
_STREAM_UPDATE = ("site", "unit", "value_type", "last_ts_ms", "last_ingest_ms", "last_lag_ms")
#: Streams remembered (rows as last merged) before the memory starts afresh.
_KNOWN_MAX = 200_000
_TS = attrgetter("ts_ms")
#: A stream's newest reading in a batch held per series: its time, its value, its series.
_Newest = tuple[int, float, SeriesLike]


def value_type(value: object) -> str:
    """``"bool"`` or ``"number"`` (int and float are one type: JSON does not tell them apart)."""
    return "bool" if isinstance(value, bool) else "number"


class IngestRecorder:
    """Writes the per-batch pipeline statistics."""

    def __init__(self, engine: Database, bucket_s: int, sla_queryable_s: float,
                 flush_every_s: float = 0.0) -> None:
        self._engine = engine
        self._bucket_ms = bucket_s * 1000
        self._sla_ms = round(sla_queryable_s * 1000)
        self._flush_ms = round(flush_every_s * 1000)
        self._lock = threading.Lock()
        self._due_ms = 0
        #: Each stream's row as last merged (written or pending): what the next batch of
        #: :meth:`record_series` compares with, instead of reading it back.
        self._known: dict[tuple[str, str], dict[str, Any]] = {}
        self._pending_streams: dict[tuple[str, str], dict[str, Any]] = {}
        self._pending_changes: list[dict[str, Any]] = []
        self._pending_volume: Counter[tuple[str, int]] = Counter()
        self._pending_sla: dict[int, list[int]] = {}

    def bucket(self, ts_ms: int) -> int:
        """The start of the bucket holding ``ts_ms``."""
        return ts_ms - ts_ms % self._bucket_ms

    def record(
        self, readings: Sequence[ReadingLike], anomalies: Sequence[AnomalyLike],
        received_ms: int,
    ) -> None:
        """Record one accepted batch (run again on a transient write conflict)."""
        self.flush()
        retrying(lambda: self._record(readings, anomalies, received_ms))
        with self._lock:
            self._known.clear()  # written behind the merge: read the rows afresh

    def _record(
        self, readings: Sequence[ReadingLike], anomalies: Sequence[AnomalyLike],
        received_ms: int,
    ) -> None:
        with self._engine.begin() as conn:
            if readings:
                self._streams(conn, readings, received_ms)
                self._volume(conn, readings, received_ms)
            self._anomalies(conn, anomalies)

    def _anomalies(self, conn: Connection, anomalies: Sequence[AnomalyLike]) -> None:
        increment(conn, anomaly_buckets, ("device", "sensor", "bucket_ms"), ("events",), [
            {"device": device, "sensor": sensor, "bucket_ms": bucket, "site": site,
             "events": count}
            for (device, sensor, bucket, site), count in
            _count_anomalies(anomalies, self.bucket).items()])

    def record_series(
        self, series: Sequence[SeriesLike], anomalies: Sequence[AnomalyLike], received_ms: int,
    ) -> None:
        """:meth:`record` for a batch held per series: the same statistics, counted per
        series, and merged in memory: written at most every ``flush_every_s`` (at once when a
        stream is new to this process), and by :meth:`flush`, which every reader of these
        tables runs first (``before_read`` of the checks and the rule context). The merge
        writes what recording each batch in turn would."""
        latest, per_device, n, on_time = _series_counts(series, received_ms - self._sla_ms)
        with self._lock:
            fresh = [key for key in latest if key not in self._known]
            if fresh:
                retrying(lambda: self._learn(fresh))
            rows, changes = self._merge_rows(latest, received_ms)
            for row in rows:
                self._known[(row["device"], row["sensor"])] = row
                self._pending_streams[(row["device"], row["sensor"])] = row
            self._pending_changes += changes
            bucket = self.bucket(received_ms)
            for device, count in per_device.items():
                self._pending_volume[(device, bucket)] += count
            sla = self._pending_sla.setdefault(bucket, [0, 0, 0, 0])
            sla[0] += n
            sla[1] += on_time
            if fresh or not self._flush_ms or received_ms >= self._due_ms:
                retrying(lambda: self._flush_locked(received_ms))
        if anomalies:
            retrying(lambda: self._record_anomalies(anomalies))

    def _learn(self, keys: list[tuple[str, str]]) -> None:
        """Read the stored rows of streams this process has not seen yet."""
        wanted = set(keys)
        devices = sorted({device for device, _sensor in keys})
        with self._engine.begin() as conn:
            for row in conn.execute(_STREAMS_OF, {"devices": devices}):
                if (key := (row.device, row.sensor)) in wanted:
                    self._known[key] = dict(row._mapping)

    def _record_anomalies(self, anomalies: Sequence[AnomalyLike]) -> None:
        with self._engine.begin() as conn:
            self._anomalies(conn, anomalies)

    def flush(self) -> None:
        """Write the merged statistics still pending."""
        with self._lock:
            if self._pending_streams or self._pending_volume or self._pending_sla:
                retrying(lambda: self._flush_locked(None))

    def _flush_locked(self, now: int | None) -> None:
        with self._engine.begin() as conn:
            if self._pending_streams:
                # last_ts_ms only moves forward: another replica may have written a newer one
                # since this process last read the row.
                pending = self._pending_streams  # keyed (device, sensor): sorted in C
                conn.execute(_merged_upsert(conn.dialect.name),
                             [pending[key] for key in sorted(pending)])
            if self._pending_changes:
                conn.execute(insert(schema_changes), self._pending_changes)
            increment(conn, t_volume, ("device", "bucket_ms"), ("readings",), [
                {"device": device, "bucket_ms": bucket, "readings": count}
                for (device, bucket), count in self._pending_volume.items()])
            increment(conn, sla_buckets, ("bucket_ms",), _SLA_COUNTS, [
                {"bucket_ms": bucket, **dict(zip(_SLA_COUNTS, counts, strict=True))}
                for bucket, counts in self._pending_sla.items()])
        self._pending_streams.clear()
        self._pending_changes.clear()
        self._pending_volume.clear()
        self._pending_sla.clear()
        if len(self._known) > _KNOWN_MAX:
            self._known.clear()
        if now is not None:
            self._due_ms = now + self._flush_ms

    def record_request(self, ok: bool, received_ms: int) -> None:
        """Count one ingest request by outcome (ingest availability); merged like the
        statistics of :meth:`record_series` when those are."""
        if self._flush_ms:
            with self._lock:
                counts = self._pending_sla.setdefault(self.bucket(received_ms), [0, 0, 0, 0])
                counts[2 if ok else 3] += 1
                if received_ms >= self._due_ms:
                    retrying(lambda: self._flush_locked(received_ms))
            return
        with self._engine.begin() as conn:
            increment(conn, sla_buckets, ("bucket_ms",), ("requests_ok", "requests_failed"), [
                {"bucket_ms": self.bucket(received_ms), "requests_ok": int(ok),
                 "requests_failed": int(not ok), "readings": 0, "on_time": 0}])

    def _volume(self, conn: Connection, readings: Sequence[ReadingLike], now: int) -> None:
        # Counted in C (map/Counter/sum): a batch holds thousands of readings.
        per_device = Counter(map(_DEVICE, readings))
        on_time = sum(map((now - self._sla_ms).__le__, map(_TS, readings)))
        self._count_volume(conn, per_device, len(readings), on_time, now)

    def _count_volume(self, conn: Connection, per_device: Counter[str], n: int, on_time: int,
                      now: int) -> None:
        bucket = self.bucket(now)
        increment(conn, t_volume, ("device", "bucket_ms"), ("readings",), [
            {"device": device, "bucket_ms": bucket, "readings": count}
            for device, count in per_device.items()])
        increment(conn, sla_buckets, ("bucket_ms",), ("readings", "on_time"), [
            {"bucket_ms": bucket, "readings": n, "on_time": on_time,
             "requests_ok": 0, "requests_failed": 0}])

    def _streams(self, conn: Connection, readings: Sequence[ReadingLike], now: int) -> None:
        latest: dict[tuple[str, str], ReadingLike] = {}
        get_latest = latest.get
        for r in readings:
            key = (r.device, r.sensor)
            cur = get_latest(key)
            if cur is None or r.ts_ms >= cur.ts_ms:
                latest[key] = r
        self._upsert_streams(conn, latest, now)

    def _upsert_streams(self, conn: Connection, latest: dict[tuple[str, str], ReadingLike],
                        now: int) -> None:
        # By device, then narrowed here: an IN of a few plain names is one cached statement,
        # where an IN of (device, sensor) pairs cost ~10% of ingest to build and render.
        devices = sorted({device for device, _sensor in latest})
        known = {key: row._mapping for row in conn.execute(_STREAMS_OF, {"devices": devices})
                 if (key := (row.device, row.sensor)) in latest}
        rows, changes = self._stream_rows(latest, known, now)
        upsert(conn, stream_stats, ("device", "sensor"), rows, _STREAM_UPDATE)
        if changes:
            conn.execute(insert(schema_changes), changes)

    def _merge_rows(self, latest: dict[tuple[str, str], _Newest], now: int
                    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """:meth:`_stream_rows` against the rows as last merged: a stream whose site, unit
        and value type are unchanged (the steady state) has its row moved forward in place
        (what :meth:`_stream_rows` would write, without building it anew, nor a reading)."""
        known = self._known
        rows: list[dict[str, Any]] = []
        rest: dict[tuple[str, str], ReadingLike] = {}
        for key, (ts, value, s) in latest.items():
            old = known.get(key)
            if (old is None or old["site"] != s.site or old["unit"] != s.unit
                    or old["value_type"] != value_type(value)):
                rest[key] = IngestedReading(key[0], key[1], ts, value, s.site, s.unit)
                continue
            old["last_ts_ms"] = max(old["last_ts_ms"], ts)
            old["last_ingest_ms"] = now
            old["last_lag_ms"] = max(0, now - ts)
            rows.append(old)
        if not rest:
            return rows, []
        more, changes = self._stream_rows(rest, known, now)
        return rows + more, changes

    @staticmethod
    def _stream_rows(latest: dict[tuple[str, str], ReadingLike], known: Mapping[Any, Any],
                     now: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The stream rows to write for the newest reading of each stream, and the schema
        changes against their ``known`` rows."""
        rows, changes = [], []
        for key, r in latest.items():
            old: Any = known.get(key)
            vtype = value_type(r.value)
            if old is None:
                changes.append(_change(r, "new_sensor", {"unit": r.unit, "type": vtype}, now))
            else:
                if (old["unit"] or None) != (r.unit or None):
                    changes.append(_change(r, "unit_changed", {"from": old["unit"],
                                                               "to": r.unit}, now))
                if old["value_type"] != vtype:
                    changes.append(_change(r, "type_changed", {"from": old["value_type"],
                                                               "to": vtype}, now))
            newest = r.ts_ms if old is None else max(old["last_ts_ms"], r.ts_ms)
            rows.append({"device": r.device, "sensor": r.sensor, "site": r.site,
                         "unit": r.unit, "value_type": vtype,
                         "first_seen_ms": now if old is None else old["first_seen_ms"],
                         "last_ts_ms": newest, "last_ingest_ms": now,
                         "last_lag_ms": max(0, now - r.ts_ms)})
        return rows, changes

def _series_counts(series: Sequence[SeriesLike], due_ms: int) -> tuple[
        dict[tuple[str, str], _Newest], dict[str, int], int, int]:
    """Of a batch held per series: the newest reading per stream (the last one at the newest
    time, as its time, value and series), readings per device, readings, and readings
    stamped at or after ``due_ms``. One pass over the series; no reading becomes an object."""
    latest: dict[tuple[str, str], _Newest] = {}
    per_device: dict[str, int] = {}
    on_time = n = 0
    for s in series:
        stamps = s.ts
        count = len(stamps)
        if not count:
            continue
        device = s.device
        per_device[device] = per_device.get(device, 0) + count
        n += count
        ts = max(stamps)
        if ts >= due_ms:  # else none is on time
            on_time += count if min(stamps) >= due_ms else sum(map(due_ms.__le__, stamps))
        key = (device, s.sensor)
        cur = latest.get(key)
        if cur is None or ts >= cur[0]:
            j = (count - 1 if stamps[-1] == ts
                 else count - 1 - list(stamps)[::-1].index(ts))  # the last at the newest time
            latest[key] = (ts, s.value[j], s)
    return latest, per_device, n, on_time


@functools.lru_cache(maxsize=4)
def _merged_upsert(dialect: str) -> Any:
    module: Any = postgresql if dialect == "postgresql" else sqlite
    greatest = func.greatest if dialect == "postgresql" else func.max
    stmt = module.insert(stream_stats)
    update = {name: stmt.excluded[name] for name in _STREAM_UPDATE}
    update["last_ts_ms"] = greatest(stream_stats.c.last_ts_ms, stmt.excluded.last_ts_ms)
    return stmt.on_conflict_do_update(index_elements=["device", "sensor"], set_=update)


def _change(r: ReadingLike, change: str, detail: dict[str, Any], now: int) -> dict[str, Any]:
    return {"device": r.device, "sensor": r.sensor, "change": change,
            "detail": json.dumps(detail), "at_ms": now}


def _count_anomalies(
    anomalies: Sequence[AnomalyLike], bucket: Any
) -> dict[tuple[str, str, int, str | None], int]:
    counts: dict[tuple[str, str, int, str | None], int] = {}
    for a in anomalies:
        key = (a.device, a.sensor, bucket(a.ts_ms), a.site)
        counts[key] = counts.get(key, 0) + 1
    return counts
