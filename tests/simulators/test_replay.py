"""``iotgw sim replay``: CSV parsing (unit) and replay through a real Mosquitto (integration)."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest

from firmware_protocol.codec import DecodeContext
from firmware_protocol.codecs import get_codec
from firmware_protocol.model import Message
from firmware_protocol.timestamps import parse_timestamp
from iotgw.cli import main
from simulators.errors import ReplayFileError
from simulators.manifest import read_manifest
from simulators.replay import read_csv
from tests.simulators.collector import Collector
from tests.support.servers import Mosquitto

# vendored NAB subset (MIT, see bench/data/nab/LICENSE.txt)
NAB = (Path(__file__).resolve().parents[2] / "bench" / "data" / "nab" / "data" / "realTraffic"
       / "speed_7578.csv")

TINY = """timestamp,temperature,pressure
1999-12-31T23:59:59Z,20.0,101325
2024-03-01T10:00:00Z,21.5,101325
2024-03-01T10:00:01Z,21.75,
2024-03-01T10:00:02+01:00,-3,101300.5
not-a-time,1,2

2024-03-01T10:00:04Z,22.125,101200
"""


def test_read_csv_rows_sensors_and_skips(tmp_path: Path) -> None:
    path = tmp_path / "tiny.csv"
    path.write_text(TINY)
    series = read_csv(path)
    assert series.sensors == ["temperature", "pressure"]
    assert series.rows[0].ts_ms < 946_684_800_000  # read, but too early to encode
    assert [r.values for r in series.rows[1:]] == [
        [("temperature", 21.5), ("pressure", 101325)],
        [("temperature", 21.75)],
        [("temperature", -3), ("pressure", 101300.5)],
        [("temperature", 22.125), ("pressure", 101200)],
    ]
    assert series.rows[3].ts_ms == parse_timestamp("2024-03-01T09:00:02Z")
    assert series.skipped == 1 and series.first_problem is not None
    assert series.first_problem.startswith("line 6:")
    renamed = read_csv(path, ["t", "p"])
    assert renamed.sensors == ["t", "p"]


def test_read_csv_errors(tmp_path: Path) -> None:
    with pytest.raises(ReplayFileError, match="cannot read"):
        read_csv(tmp_path / "missing.csv")
    (tmp_path / "empty.csv").write_text("timestamp,value\n")
    with pytest.raises(ReplayFileError, match="header"):
        read_csv(tmp_path / "empty.csv")
    (tmp_path / "bad.csv").write_text("timestamp,value\nx,1\ny,2\n")
    with pytest.raises(ReplayFileError, match="no usable rows"):
        read_csv(tmp_path / "bad.csv")
    (tmp_path / "two.csv").write_text("timestamp,a,b\n1700000000,1,2\n")
    with pytest.raises(ReplayFileError, match="--sensor names 1"):
        read_csv(tmp_path / "two.csv", ["x"])


def test_missing_file_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = str(tmp_path / "nope.csv")
    assert main(["sim", "replay", missing, "--broker", "mqtt://127.0.0.1:1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot read" in err[0]


@pytest.fixture
def collector(mosquitto: Mosquitto) -> Iterator[Collector]:
    c = Collector(mosquitto.host, mosquitto.port)
    c.start()
    try:
        yield c
    finally:
        c.stop()


def _decoded(received: list[tuple[str, bytes]], fmt: str, device: str) -> list[Message]:
    codec = get_codec(fmt)
    return [codec.decode(p, DecodeContext(device=device)) for _t, p in received]


@pytest.mark.integration
def test_replay_tiny_csv_keeps_order_timestamps_and_values(
    mosquitto: Mosquitto, collector: Collector, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "boiler-3.csv"
    path.write_text(TINY)
    manifest = tmp_path / "m.jsonl"
    assert main(["sim", "replay", str(path), "--broker", mosquitto.url, "--speedup", "1000",
                 "--format", "senml-json", "--manifest", str(manifest)]) == 0
    assert "skipped 2 unusable row(s), first at line 2" in capsys.readouterr().err
    msgs = _decoded(collector.wait_for(4), "senml-json", "boiler-3")
    series = read_csv(path)
    series.rows = series.rows[1:]  # the 1999 row cannot be encoded (before 2000-01-01)
    assert [m.seq for m in msgs] == [0, 1, 2, 3]
    assert [m.ts_ms for m in msgs] == [r.ts_ms for r in series.rows]
    assert [[(r.sensor, r.value) for r in m.readings] for m in msgs] == [
        r.values for r in series.rows
    ]
    lines = list(read_manifest(manifest))
    assert [ln["ts"] for ln in lines] == [m.ts_ms for m in msgs]
    assert all(ln["acked"] and ln["device"] == "boiler-3" for ln in lines)


@pytest.mark.integration
def test_replay_nab_series_as_fast_as_the_broker_takes(
    mosquitto: Mosquitto, collector: Collector, tmp_path: Path
) -> None:
    with NAB.open() as f:
        rows = list(csv.reader(f))[1:]
    assert main(["sim", "replay", str(NAB), "--broker", mosquitto.url, "--device", "road-7578",
                 "--sensor", "speed", "--format", "binary", "--site", "city"]) == 0
    received = collector.wait_for(len(rows))
    assert len(received) == len(rows)
    assert {t for t, _ in received} == {"sensors/city/road-7578/binary"}
    msgs = _decoded(received, "binary", "road-7578")
    assert [m.ts_ms for m in msgs] == [parse_timestamp(r[0]) for r in rows]
    assert [m.readings[0].value for m in msgs] == [int(r[1]) for r in rows]
    assert {m.readings[0].sensor for m in msgs} == {"speed"}
