"""InfluxDB through its v1-compatible HTTP API: line protocol on ``/write``, InfluxQL on ``/query``.

Every write names its ``precision`` and is gzip-compressed unless influxd is on this host
(``store.gzip``, :meth:`~cloud.settings.StoreSettings.compress_writes`); auth is a
``Authorization: Token`` header or HTTP basic auth. A ``400 partial write`` (points beyond the
retention policy, field-type conflicts, unparsable lines) is narrowed down by bisection to the
points InfluxDB refused: re-sending the accepted ones is harmless because a point is identified
by its series and timestamp. Connection failures and 5xx answers raise
:class:`~cloud.errors.StoreUnavailable`.
"""

from __future__ import annotations

import contextlib
import gzip
import json
from collections.abc import Sequence
from typing import Any

import httpx

from cloud.errors import StoreError, StoreUnavailable
from cloud.redact import redact
from cloud.settings import StoreSettings
from cloud.store.base import (
    AnomalyPoint,
    Point,
    Rejection,
    SeriesResult,
    UnwritableName,
    WriteResult,
)
from cloud.store.downsample import aggregate_lines, aggregate_query
from cloud.store.escaping import ql_ident, ql_string
from cloud.store.lineprotocol import (
    ANOMALIES,
    READINGS,
    LineBlock,
    TemplateCache,
    anomaly_line,
    batch_lines,
    reading_lines,
)
from cloud.store.linewriter import LineWriter, WriteFailed, basic_auth
from common.httpx_hygiene import unbound
from ingest_protocol.columns import Series

_QL_AGG = {
    "mean": 'mean("value")', "min": 'min("value")', "max": 'max("value")',
    "count": 'count("value")', "last": 'last("value")', "p95": 'percentile("value", 95)',
}
#: (substring of InfluxDB's error, rejection code)
_REASONS = (
    ("beyond retention policy", "beyond_retention"),
    ("field type conflict", "field_type_conflict"),
    ("unable to parse", "unparsable"),
    ("max-values-per-tag", "cardinality_limit"),
    ("max-series-per-database", "cardinality_limit"),
)


#: Escaped series prefixes kept between writes (names are escaped and checked once each).
_SERIES_CACHE_MAX = 100_000


class DatabaseMissing(StoreUnavailable):
    """The database does not exist (yet)."""


def _code(message: str) -> str:
    return next((code for text, code in _REASONS if text in message), "store_rejected")


class InfluxDBStore:
    """A :class:`~cloud.store.TimeSeriesStore` on InfluxDB's v1 HTTP API."""

    kind = "influxdb"

    def __init__(self, settings: StoreSettings) -> None:
        self.settings = settings
        self._client: httpx.Client | None = None
        self._series: dict[tuple[str, str, str | None], str] = {}
        self._templates: TemplateCache = {}
        self._gzip = settings.compress_writes()
        self._writer: LineWriter | None = None
        self._headers: dict[str, str] = {}

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        s = self.settings
        headers = {"User-Agent": "iotgw-cloud"}
        auth: tuple[str, str] | None = None
        if s.token.get_secret_value():
            headers["Authorization"] = f"Token {s.token.get_secret_value()}"
        elif s.username:
            auth = (s.username, s.password.get_secret_value())
        self._client = httpx.Client(
            base_url=s.url, headers=headers, auth=auth, timeout=s.timeout_s, verify=s.verify_tls,
        )
        self._headers = headers
        self._writer = self._line_writer(headers)
        if s.create_database:
            # Unreachable now or not permitted: writes retry it, or say so (503).
            with contextlib.suppress(StoreError):
                self._create_database()

    def _line_writer(self, headers: dict[str, str], database: str | None = None,
                     retention_policy: str | None = None, precision: str | None = None
                     ) -> LineWriter:
        """A writer to the store's database (or ``database``/``retention_policy``)."""
        s = self.settings
        rp = s.retention_policy if database is None else retention_policy
        params = {"db": database or s.database, "precision": precision or s.precision}
        if rp:
            params["rp"] = rp
        headers = {**headers, "Content-Type": "text/plain; charset=utf-8"}
        if "Authorization" not in headers and s.username:
            headers["Authorization"] = basic_auth(s.username, s.password.get_secret_value())
        if self._gzip:
            headers["Content-Encoding"] = "gzip"
        return LineWriter(s.url, params, headers, s.timeout_s, s.verify_tls)

    def stop(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._client is not None:
            self._client.close()
            self._client = None

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            raise StoreUnavailable("the InfluxDB store is not started")
        return self._client

    def _create_database(self) -> None:
        self._query(f"CREATE DATABASE {ql_ident(self.settings.database)}", method="POST",
                    db=False)

    def _unreachable(self, exc: Exception) -> StoreUnavailable:
        return StoreUnavailable(f"InfluxDB at {redact(self.settings.url)} is unreachable: {exc}")

    def cache_info(self) -> dict[str, int]:
        """Sizes of the in-process caches: ``series`` (line-protocol series prefixes of
        :meth:`write`), ``templates`` (series templates of :meth:`write_series`) and their
        ``series_max`` (past it a cache is emptied)."""
        return {"series": len(self._series), "templates": len(self._templates),
                "series_max": _SERIES_CACHE_MAX}

    def ping(self) -> None:
        try:
            resp = unbound(self.client.get("/ping"))
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from exc
        if resp.status_code != 204:
            raise StoreUnavailable(f"InfluxDB /ping answered {resp.status_code}")

    # -- writes ----------------------------------------------------------------------------
    def write(self, points: Sequence[Point], anomalies: Sequence[AnomalyPoint]) -> WriteResult:
        result = WriteResult()
        prec = self.settings.precision
        if len(self._series) > _SERIES_CACHE_MAX:
            self._series.clear()
        lines, index, bad = reading_lines(points, prec, self._series)
        result.rejected += [Rejection(i, "bad_name", why) for i, why in bad]
        return self._write_lines(LineBlock.of_lines([line.encode() for line in lines]), index,
                                 anomalies, result)

    def write_series(self, series: Sequence[Series], anomalies: Sequence[AnomalyPoint]
                     ) -> WriteResult:
        """A batch held per series (:mod:`ingest_protocol.columns`), its lines built for the
        whole batch at once (:func:`batch_lines`). Reading rejections carry the readings'
        batch positions (``Series.index``)."""
        result = WriteResult()
        if len(self._templates) > _SERIES_CACHE_MAX:
            self._templates.clear()
        lines, index, bad = batch_lines(series, self.settings.precision, self._templates)
        for pos, why in bad:
            result.rejected += [Rejection(i, "bad_name", why) for i in series[pos].index]
        return self._write_lines(lines, index, anomalies, result)

    def _write_lines(self, lines: LineBlock, index: list[int],
                     anomalies: Sequence[AnomalyPoint], result: WriteResult) -> WriteResult:
        """Write reading ``lines`` (``index``: what a rejection of each names) and the
        anomalies, in chunks of ``batch_size``."""
        prec = self.settings.precision
        n_readings = len(lines)
        for i, a in enumerate(anomalies):
            try:
                lines.append(anomaly_line(a, prec).encode())
                index.append(i)
            except UnwritableName as exc:
                result.anomalies_rejected.append(Rejection(i, "bad_name", str(exc)))
        size = self.settings.batch_size
        for start in range(0, len(lines), size):
            for pos, code, reason in self._write_chunk(lines, start, min(start + size, len(lines))):
                target = result.rejected if pos < n_readings else result.anomalies_rejected
                target.append(Rejection(index[pos], code, reason))
        result.rejected.sort(key=lambda r: r.index)
        result.anomalies_rejected.sort(key=lambda r: r.index)
        return result

    def _write_chunk(self, lines: LineBlock, start: int, end: int
                     ) -> list[tuple[int, str, str]]:
        """Write lines ``start`` to ``end``; on a partial write, bisect to find the refused
        ones (returned as positions in ``lines`` with a code and a reason)."""
        if start >= end:
            return []
        status, message = self._post_lines(lines.body(start, end))
        if status == 204:
            return []
        if status not in (400, 413):
            raise StoreUnavailable(f"InfluxDB /write answered {status}: {message}")
        if end - start == 1:
            return [(start, _code(message), f"InfluxDB refused the point: {message}")]
        mid = (start + end) // 2
        return self._write_chunk(lines, start, mid) + self._write_chunk(lines, mid, end)

    def _post_lines(self, body: bytes) -> tuple[int, str]:
        try:
            return self._post_once(body)
        except DatabaseMissing:
            if not self.settings.create_database:
                raise
        # influxd was down at start-up (or the database was dropped): create it, retry once.
        with contextlib.suppress(StoreError):
            self._create_database()
        return self._post_once(body)

    def _post_once(self, body: bytes, writer: LineWriter | None = None) -> tuple[int, str]:
        """POST ``body`` through ``writer`` (default: the store's own)."""
        s = self.settings
        writer = writer or self._writer
        if writer is None:
            raise StoreUnavailable("the InfluxDB store is not started")
        data = gzip.compress(body, compresslevel=1) if self._gzip else body
        try:
            status, text = writer.post(data)
        except WriteFailed as exc:
            raise StoreUnavailable(
                f"InfluxDB at {redact(s.url)} is unreachable: {exc!r}") from exc
        if status == 204:
            return 204, ""
        message = _error_text(text)
        if status == 404 and "database not found" in message:
            raise DatabaseMissing(f"InfluxDB /write answered 404: {message}")
        if status == 404 or status >= 500 or status in (401, 403):
            raise StoreUnavailable(f"InfluxDB /write answered {status}: {message}")
        return status, message

    def downsample(self, start_ms: int, end_ms: int, every_s: int, measurement: str,
                   database: str = "", retention_policy: str = "") -> int:
        """Write the ``every_s`` aggregates of the readings in ``[start_ms, end_ms)`` as
        ``measurement`` (:mod:`cloud.store.downsample`) into ``database`` (default: the
        store's); returns the points written."""
        if database and database != self.settings.database and self.settings.create_database:
            self._query(f"CREATE DATABASE {ql_ident(database)}", method="POST", db=False)
        rows = self._query(aggregate_query(self._from(READINGS), start_ms, end_ms, every_s))
        lines = aggregate_lines(rows, measurement)
        if not lines:
            return 0
        # A writer of its own for the aggregates' database (a run a minute: not kept).
        writer = self._line_writer(self._headers, database or self.settings.database,
                                   retention_policy, "ms")
        try:
            size = self.settings.batch_size
            for i in range(0, len(lines), size):
                status, message = self._post_once(b"\n".join(lines[i:i + size]), writer)
                if status != 204:
                    raise StoreError(f"InfluxDB refused aggregates ({status}): {message}")
        finally:
            writer.close()
        return len(lines)

    # -- queries ---------------------------------------------------------------------------
    def _from(self, measurement: str) -> str:
        rp = self.settings.retention_policy
        return f"{ql_ident(rp)}.{ql_ident(measurement)}" if rp else ql_ident(measurement)

    def _query(self, q: str, method: str = "GET", db: bool = True) -> list[dict[str, Any]]:
        params = {"q": q, "epoch": "ms"}
        if db:
            params["db"] = self.settings.database
        try:
            if method == "POST":
                resp = unbound(self.client.post("/query", data=params))
            else:
                resp = unbound(self.client.get("/query", params=params))
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from exc
        if resp.status_code >= 500:
            raise StoreUnavailable(f"InfluxDB /query answered {resp.status_code}")
        try:
            payload = resp.json()
        except ValueError as exc:
            raise StoreError(f"InfluxDB /query answered {resp.status_code}: not JSON") from exc
        if "error" in payload:
            raise StoreError(f"InfluxDB query failed: {payload['error']}")
        result = (payload.get("results") or [{}])[0]
        if "error" in result:
            if "database not found" in str(result["error"]):
                return []
            raise StoreError(f"InfluxDB query failed: {result['error']}")
        return list(result.get("series") or [])

    def _where(self, start_ms: int, end_ms: int, **tags: str | None) -> str:
        conds = [f"{ql_ident(k)} = {ql_string(v)}" for k, v in tags.items() if v is not None]
        conds += [f"time >= {int(start_ms)}ms", f"time < {int(end_ms)}ms"]
        return " AND ".join(conds)

    def series(self, device: str, sensor: str, start_ms: int, end_ms: int, every_ms: int,
               aggs: Sequence[str]) -> SeriesResult:
        select = ", ".join(f"{_QL_AGG[a]} AS {ql_ident(a)}" for a in aggs)
        q = (f"SELECT {select} FROM {self._from(READINGS)} "
             f"WHERE {self._where(start_ms, end_ms, device=device, sensor=sensor)} "
             f"GROUP BY time({int(every_ms)}ms) fill(none)")
        out = SeriesResult([], {a: [] for a in aggs})
        for series in self._query(q):
            cols = series["columns"]
            pos = {a: cols.index(a) for a in aggs}
            for row in series.get("values") or []:
                out.t.append(int(row[0]))
                for a in aggs:
                    v = row[pos[a]]
                    out.columns[a].append(None if v is None else float(v))
        return out

    def anomalies(self, device: str | None, sensor: str | None, start_ms: int, end_ms: int,
                  limit: int) -> list[AnomalyPoint]:
        q = (f"SELECT * FROM {self._from(ANOMALIES)} "
             f"WHERE {self._where(start_ms, end_ms, device=device, sensor=sensor)} "
             f"ORDER BY time ASC LIMIT {int(limit)}")
        out: list[AnomalyPoint] = []
        for series in self._query(q):
            cols = series["columns"]
            for row in series.get("values") or []:
                r = dict(zip(cols, row, strict=True))
                out.append(AnomalyPoint(
                    device=r["device"], sensor=r["sensor"], ts_ms=int(r["time"]),
                    value=float(r["value"]), score=float(r["score"]), detector=r["detector"],
                    expected_low=r.get("expected_low"), expected_high=r.get("expected_high"),
                    site=r.get("site") or None,
                ))
        return out


def _error_text(text: str) -> str:
    try:
        return str(json.loads(text).get("error", text))
    except (ValueError, AttributeError):
        return text[:500]
