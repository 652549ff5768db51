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
    manifest_files,
    manifest_lines,
    part_path,
    prepare_manifest,
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


def _write_to(path: Path, lines: list[dict[str, Any]]) -> None:
    writer = ManifestWriter(path)
    writer.start()
    for line in lines:
        writer.write(line)
    writer.stop()


def test_readers_merge_the_files_of_a_multi_process_run(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    assert prepare_manifest(path, 2) == [tmp_path / "run.p0.jsonl", tmp_path / "run.p1.jsonl"]
    _write_to(part_path(path, 0), [_line("a", 0), _line("a", 1, acked=False)])
    _write_to(part_path(path, 1), [
        _line("b", 0), _line("b", 1, malformed=True, faults=["bad-crc"]),
        _line("b", 1, malformed=True, duplicate=True, faults=["bad-crc", "duplicate"]),
    ])
    assert manifest_files(path) == [part_path(path, 0), part_path(path, 1)]
    assert [(ln["device"], ln["seq"]) for ln in read_manifest(path)] == [
        ("a", 0), ("a", 1), ("b", 0), ("b", 1), ("b", 1)]
    assert manifest_lines(path) == 5
    assert expected_readings(path) == {("a", 0, "t"), ("a", 0, "h"), ("b", 0, "t"), ("b", 0, "h")}
    assert published_readings(path) == expected_readings(path) | {("a", 1, "t"), ("a", 1, "h")}
    assert expected_values(path)[("b", 0, "t")] == (1000, 0.0)
    assert expected_dead_letters(path) == {("b", 1)}
    assert dead_letter_count(path) == 2


def test_preparing_a_layout_removes_the_other_one(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    prepare_manifest(path, 3)
    assert len(manifest_files(path)) == 3 and not path.exists()
    prepare_manifest(path, 2)
    assert manifest_files(path) == [part_path(path, 0), part_path(path, 1)]
    assert not part_path(path, 2).exists()
    _write_to(part_path(path, 0), [_line("a", 0)])
    assert prepare_manifest(path, 1) == [path]
    assert manifest_files(path) == [path] and not part_path(path, 0).exists()
    assert manifest_lines(path) == 0 and list(read_manifest(path)) == []


def test_a_single_file_reads_as_before_and_a_missing_one_counts_zero(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    assert manifest_files(path) == [path] and manifest_lines(path) == 0
    _write_to(path, [_line("a", 0)])
    assert manifest_lines(path) == 1 and expected_readings(path) == {("a", 0, "t"), ("a", 0, "h")}
