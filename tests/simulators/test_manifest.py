"""The manifest readers reconciliation tests rely on (no broker)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from iotgw.cli import main
from simulators.manifest import (
    ManifestWriter,
    dead_letter_count,
    expected_dead_letters,
    expected_readings,
    expected_values,
    published_readings,
    read_manifest,
)


def _line(device: str, seq: int, **extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "device": device, "seq": seq, "ts": 1000 + seq, "acked": True, "sent": True,
        "malformed": False, "duplicate": False, "fault": None, "faults": [],
        "readings": [{"sensor": "t", "value": float(seq), "ts": 1000 + seq},
                     {"sensor": "h", "value": 1, "ts": 1000 + seq}],
    }
    return base | extra


def _write(tmp_path: Path, lines: list[dict[str, Any]]) -> Path:
    writer = ManifestWriter(tmp_path / "sub" / "m.jsonl")
    writer.start()
    for line in lines:
        writer.write(line)
    writer.stop()
    assert writer.path is not None
    return writer.path


def test_readers_separate_expected_possible_and_dead_letters(tmp_path: Path) -> None:
    path = _write(tmp_path, [
        _line("a", 0),
        _line("a", 0, duplicate=True, faults=["duplicate"], fault="duplicate"),
        _line("a", 1, acked=False),
        _line("a", 2, sent=False, acked=False, faults=["dropout"], fault="dropout"),
        _line("b", 0, malformed=True, faults=["truncated"], fault="truncated"),
        _line("b", 0, malformed=True, duplicate=True, faults=["truncated", "duplicate"]),
        _line("b", 1, malformed=True, acked=False, faults=["bad-crc"]),
        _line("b", 2, faults=["clock-skew"], fault="clock-skew"),
    ])
    assert len(list(read_manifest(path))) == 8
    assert expected_readings(path) == {("a", 0, "t"), ("a", 0, "h"), ("b", 2, "t"), ("b", 2, "h")}
    assert expected_readings(path, exclude_faults=["clock-skew"]) == {("a", 0, "t"), ("a", 0, "h")}
    assert published_readings(path) == expected_readings(path) | {("a", 1, "t"), ("a", 1, "h")}
    assert expected_dead_letters(path) == {("b", 0)}
    assert dead_letter_count(path) == 2
    assert expected_values(path)[("a", 1, "t")] == (1001, 1.0)


def test_writer_without_path_only_counts(tmp_path: Path) -> None:
    writer = ManifestWriter(None)
    writer.start()
    writer.write(_line("a", 0))
    writer.stop()
    assert writer.lines == 1
    assert list(tmp_path.iterdir()) == []


def test_lines_are_compact_json(tmp_path: Path) -> None:
    path = _write(tmp_path, [_line("a", 0)])
    text = path.read_text()
    assert text.endswith("\n") and json.loads(text)["device"] == "a"


def test_unwritable_manifest_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    code = main(["sim", "run", "--broker", "mqtt://127.0.0.1:1", "--count", "1",
                 "--manifest", str(blocker / "m.jsonl")])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("iotgw sim: --manifest: cannot write")
