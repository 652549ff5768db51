"""One timestamp rule: ``iotgw detect`` and ``iotgw sim replay`` read the same CSV alike."""

from __future__ import annotations

import ast
import io
from pathlib import Path

import pytest

from firmware_protocol.errors import TimestampError
from firmware_protocol.timestamps import parse_iso, parse_timestamp
from gateway.detect import DetectSettings, scorefile
from simulators.replay import read_csv

ROOT = Path(__file__).resolve().parents[2]

# Texts where truncation and rounding, or float and exact arithmetic, used to disagree.
CSV = """timestamp,value
1396310700.001,1
1396310700.0005,2
1396310700.0015,3
1396310700123.5,4
2014-04-01T00:05:00.0015Z,5
2014-04-01T00:05:00.0025+00:00,6
2014-04-01 00:05:00.999999,7
2014-04-01T02:05:00+02:00,8
"""
EXPECTED = [1396310700001, 1396310700000, 1396310700002, 1396310700124,
            1396310700002, 1396310700002, 1396310701000, 1396310700000]


def test_rounds_half_to_even_to_whole_milliseconds() -> None:
    rows = [line.split(",")[0] for line in CSV.splitlines()[1:]]
    assert [parse_timestamp(t) for t in rows] == EXPECTED
    assert parse_iso("2014-04-01T00:05:00Z") == 1396310700000
    for bad in ("", "nan", "inf", "yesterday", "2014-13-01"):
        with pytest.raises(TimestampError):
            parse_timestamp(bad)
    with pytest.raises(ValueError):  # TimestampError is a ValueError for plain callers
        parse_iso("1396310700")


def test_detect_and_sim_replay_give_the_same_milliseconds(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "series.csv"
    path.write_text(CSV)
    replayed = [row.ts_ms for row in read_csv(path).rows]   # what `iotgw sim replay` sends

    scored: list[int] = []

    class Recording(scorefile.StreamState):  # type: ignore[misc,valid-type]
        def step(self, value: float, ts_ms: int, policy):  # type: ignore[no-untyped-def]
            scored.append(ts_ms)
            return super().step(value, ts_ms, policy)

    monkeypatch.setattr(scorefile, "StreamState", Recording)
    out = io.StringIO()
    assert not scorefile.score_csv(CSV.splitlines(keepends=True), out, DetectSettings())
    assert replayed == scored == EXPECTED


def test_no_import_cycle_between_scorefile_and_the_detect_command() -> None:
    tree = ast.parse((ROOT / "gateway" / "detect" / "scorefile.py").read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert "gateway.detect.cli" not in imported
    assert "firmware_protocol.timestamps" in imported


def test_one_home_for_backoff_timestamps_and_the_httpx_fix() -> None:
    gone = ["gateway/backoff.py", "gateway/uplink/retry.py", "cloud/webhooks/backoff.py",
            "cloud/alerting/webhooks/backoff.py"]
    assert not [p for p in gone if (ROOT / p).exists()]
    copies = []
    for package in ("gateway", "cloud", "simulators"):
        for path in (ROOT / package).rglob("*.py"):
            text = path.read_text()
            if "httpx.ByteStream(" in text or "def parse_timestamp" in text \
                    or "def parse_retry_after" in text or "fromisoformat(" in text:
                copies.append(str(path.relative_to(ROOT)))
    assert copies == []
