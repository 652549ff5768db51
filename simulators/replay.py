"""Replay a CSV series as one device: ``timestamp,value`` (as in NAB) or several value columns.

The first row is a header: the first column holds timestamps, every other column is a sensor
named after its header (or after ``--sensor``). Each data row becomes one message whose device
timestamp is the row's timestamp, so the CSV's own times reach the store; ``seq`` is the row's
index among the rows sent. Timestamps are read by the one parser,
:func:`firmware_protocol.timestamps.parse_timestamp` (as ``iotgw detect`` reads them):
``2014-04-01 00:05:00`` (UTC when no zone is given), ISO 8601 with ``T``/``Z``/offsets, or Unix
epoch seconds or milliseconds, rounded half to even to whole milliseconds.

An empty cell leaves that sensor out of the row's message; a row whose timestamp or values
cannot be read is skipped and counted (the first such row is reported), never fatal.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from firmware_protocol.codec import Codec
from firmware_protocol.errors import EncodeError
from firmware_protocol.model import MAX_SEQ, Message, Reading, Value
from firmware_protocol.timestamps import parse_timestamp
from simulators.errors import ReplayFileError
from simulators.outgoing import Outgoing, TopicFormatter


def parse_value(text: str) -> Value:
    """An integer when the cell is one, else a float; ``ValueError`` otherwise."""
    text = text.strip()
    try:
        return int(text)
    except ValueError:
        return float(text)


@dataclass(slots=True)
class Row:
    ts_ms: int
    values: list[tuple[str, Value]]
    line: int = 0


@dataclass(slots=True)
class CsvSeries:
    """The readable rows of a CSV file and what was skipped."""

    sensors: list[str]
    rows: list[Row] = field(default_factory=list)
    skipped: int = 0
    first_problem: str | None = None
    _first_line: int = 0

    def skip(self, line: int, why: str) -> None:
        """Count a skipped row; keep the problem of the earliest line for the report."""
        self.skipped += 1
        if self.first_problem is None or line < self._first_line:
            self.first_problem = f"line {line}: {why}"
            self._first_line = line


def read_csv(path: str | Path, sensors: Sequence[str] | None = None) -> CsvSeries:
    """Read ``path``; ``sensors`` renames the value columns. Raises :class:`ReplayFileError`."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ReplayFileError(f"cannot read {path}: {exc}") from exc
    if len(rows) < 2 or len(rows[0]) < 2:
        raise ReplayFileError(f"{path}: expected a header `timestamp,value[,...]` and data rows")
    header = [h.strip() for h in rows[0][1:]]
    if sensors:
        if len(sensors) != len(header):
            raise ReplayFileError(
                f"--sensor names {len(sensors)} sensor(s) but {path} has {len(header)} value "
                "column(s)"
            )
        header = list(sensors)
    series = CsvSeries(header)
    for line, row in enumerate(rows[1:], start=2):
        if not row or not any(cell.strip() for cell in row):
            continue
        try:
            ts = parse_timestamp(row[0])
            values = [
                (name, parse_value(cell))
                for name, cell in zip(header, row[1:], strict=False)
                if cell.strip()
            ]
        except ValueError as exc:
            series.skip(line, str(exc))
            continue
        if not values:
            series.skip(line, "no value")
            continue
        series.rows.append(Row(ts, values, line))
    if not series.rows:
        raise ReplayFileError(f"{path}: no usable rows ({series.first_problem or 'empty'})")
    return series


class ReplaySource:
    """The :class:`~simulators.outgoing.Source` of a CSV replay (ends with the file)."""

    def __init__(
        self,
        series: CsvSeries,
        *,
        device: str,
        site: str,
        codec: Codec,
        fmt: str,
        qos: int,
        topic: TopicFormatter,
        speedup: float | None,
    ) -> None:
        self.series = series
        self.produced = 0
        self._device, self._site, self._codec = device, site, codec
        self._fmt, self._qos, self._topic_name = fmt, qos, topic(site, device, fmt)
        self._speedup = speedup

    def __iter__(self) -> Iterator[list[Outgoing]]:
        first_ts: int | None = None
        for row in self.series.rows:
            readings = tuple(Reading(name, value) for name, value in row.values)
            msg = Message(self._device, self.produced % (MAX_SEQ + 1), row.ts_ms, readings,
                          site=self._site)
            try:
                payload = self._codec.encode(msg)
            except EncodeError as exc:
                self.series.skip(row.line, str(exc))
                continue
            first_ts = row.ts_ms if first_ts is None else first_ts
            due = (row.ts_ms - first_ts) / 1000 / self._speedup if self._speedup else 0.0
            self.produced += 1
            yield [Outgoing(msg, payload, self._topic_name, self._fmt, self._qos, 0, max(0.0, due))]

    def flush(self) -> list[Outgoing]:
        return []
