"""The `iotgw` console script answers --help and --version."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from simulators.iotgw import main, version


def _console_script() -> list[str]:
    script = Path(sys.executable).parent / "iotgw"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "simulators.iotgw"]


def test_help_lists_usage() -> None:
    out = subprocess.run(
        [*_console_script(), "--help"], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.startswith("usage: iotgw")
    assert "never lost and never stored twice" in out.stdout


def test_version_is_the_distributions() -> None:
    out = subprocess.run(
        [*_console_script(), "--version"], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == f"iotgw {version()}"


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    assert "usage: iotgw" in capsys.readouterr().out


def test_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["no-such-command"])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
