"""Score a ``timestamp,value`` CSV stream the way the gateway scores one sensor stream."""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any, TextIO

from firmware_protocol.timestamps import parse_timestamp
from gateway.detect.registry import create_detector
from gateway.detect.settings import DetectSettings
from gateway.detect.stream import StreamState

HEADER = ("timestamp", "value", "anomaly_score", "is_anomaly")


@dataclass(slots=True)
class BadRows:
    """Rows that could not be scored (they are still written, with an empty score)."""

    count: int = 0
    first_line: int = 0
    first_reason: str = ""

    def add(self, line: int, reason: str) -> None:
        if self.count == 0:
            self.first_line, self.first_reason = line, reason
        self.count += 1

    def __bool__(self) -> bool:
        return self.count > 0


def _columns(row: list[str]) -> tuple[int, int] | None:
    """Indices of timestamp and value when ``row`` is a header, else None."""
    names = [c.strip().lower() for c in row]
    if "value" in names:
        return (names.index("timestamp") if "timestamp" in names else 0, names.index("value"))
    return None


def score_csv(lines: Iterable[str], out: TextIO, settings: DetectSettings) -> BadRows:
    """Read rows one at a time, write one scored row per input row; the rows that failed."""
    policy = settings.policy()
    state = StreamState(create_detector(settings.detector, **settings.params))
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    bad = BadRows()
    ts_col, val_col = 0, 1
    last_ts = 0
    for line_no, row in enumerate(csv.reader(lines), start=1):
        if line_no == 1 and (cols := _columns(row)) is not None:
            ts_col, val_col = cols
            continue
        if not row:
            continue
        ts_text = row[ts_col] if len(row) > ts_col else ""
        val_text = row[val_col] if len(row) > val_col else ""
        try:
            value = float(val_text)
            if not math.isfinite(value):
                raise ValueError
        except ValueError:
            bad.add(line_no, f"value {val_text!r} is not a finite number")
            writer.writerow((ts_text, val_text, "", 0))
            continue
        try:
            last_ts = parse_timestamp(ts_text)
        except ValueError:
            last_ts += 1
        score, flagged = state.step(value, last_ts, policy)
        writer.writerow((ts_text, val_text, f"{score:.6f}", int(flagged)))
    return bad


DEVICE_HEADER = ("timestamp", "anomaly_score", "is_anomaly", "sensors")


def score_device_csv(lines: Iterable[str], out: TextIO, settings: DetectSettings) -> BadRows:
    """A ``timestamp,sensorA,sensorB,...`` CSV scored jointly, one device, row by row, with the
    per-device detector (:mod:`gateway.detect.device`) and the gateway's policy; writes
    ``timestamp,anomaly_score,is_anomaly,sensors`` (``sensors``: the contributors, ``+``-joined,
    on flagged rows)."""
    from gateway.detect.device import DeviceState, MahalanobisDetector

    policy = replace(settings.policy(), threshold=MahalanobisDetector.default_threshold)
    params: dict[str, Any] = dict(settings.device_params)
    state = DeviceState(MahalanobisDetector(**params))
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(DEVICE_HEADER)
    bad = BadRows()
    names: list[str] = []
    last_ts = 0
    for line_no, row in enumerate(csv.reader(lines), start=1):
        if line_no == 1:
            names = [c.strip() for c in row[1:]]
            continue
        if not row:
            continue
        try:
            x = {n: float(v) for n, v in zip(names, row[1:], strict=True)}
            if not all(math.isfinite(v) for v in x.values()):
                raise ValueError
        except ValueError:
            bad.add(line_no, f"expected {len(names)} finite numbers after the timestamp")
            writer.writerow((row[0], "", 0, ""))
            continue
        try:
            last_ts = parse_timestamp(row[0])
        except ValueError:
            last_ts += 1
        x["t"] = last_ts
        score, flagged = state.step(x, policy)
        sensors = "+".join(state.detector.contributors(x)) if flagged else ""
        writer.writerow((row[0], f"{score:.6f}", int(flagged), sensors))
    return bad
