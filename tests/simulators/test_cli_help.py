"""``iotgw sim`` is registered and its help documents the fault grammar and the manifest."""

from __future__ import annotations

import pytest

from iotgw.cli import main
from simulators.faults import FAULT_KINDS


def _help(*args: str, capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exc:
        main([*args, "--help"])
    assert exc.value.code == 0
    return capsys.readouterr().out


def test_sim_group_lists_run_and_replay(capsys: pytest.CaptureFixture[str]) -> None:
    text = _help("sim", capsys=capsys)
    assert "run" in text and "replay" in text


def test_run_help_has_every_flag_and_the_fault_grammar(capsys: pytest.CaptureFixture[str]) -> None:
    text = _help("sim", "run", capsys=capsys)
    for flag in ("--broker", "--username", "--password", "--ca-file", "--devices", "--sensors",
                 "--rate", "--duration", "--count", "--format", "--qos", "--seed", "--faults",
                 "--manifest", "--site", "--connections", "--degrade", "--processes"):
        assert flag in text
    assert "KIND[=RATE][@DEVICE][/LEN]" in text
    for kind in FAULT_KINDS:
        assert f"  {kind} " in text
    assert "acked (QoS 1: PUBACK received; QoS 0: written to the" in text
    assert "run.p0.jsonl" in text  # --processes N: one manifest file per process


def test_replay_help_has_its_flags(capsys: pytest.CaptureFixture[str]) -> None:
    text = _help("sim", "replay", capsys=capsys)
    for flag in ("FILE.csv", "--device", "--sensor", "--speedup", "--broker", "--manifest"):
        assert flag in text


def test_duration_and_count_exclude_each_other(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["sim", "run", "--duration", "1", "--count", "1"])
    assert exc.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err
