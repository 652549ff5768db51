"""The `iotgw` console script answers --help and --version."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from iotgw import cli
from iotgw.cli import main, version


def _console_script() -> list[str]:
    script = Path(sys.executable).parent / "iotgw"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "iotgw.cli"]


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


def _group_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str) -> None:
    """A command group named ``fake`` whose module runs ``body`` at import."""
    (tmp_path / "iotgw_fake_group.py").write_text(body)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "iotgw_fake_group", raising=False)
    monkeypatch.setattr(cli, "GROUPS", (*cli.GROUPS, ("fake", "iotgw_fake_group", "cloud")))


def test_a_group_missing_its_extra_says_which_to_install(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _group_module(tmp_path, monkeypatch, "import iotgw_not_installed_anywhere\n")
    assert main([]) == 0
    assert "fake" in capsys.readouterr().out  # still listed by --help
    for argv in (["fake"], ["fake", "run", "--config", "x.toml"], ["fake", "--help"]):
        assert main(argv) == 2
        assert capsys.readouterr().err.splitlines() == [
            "iotgw fake needs the 'cloud' extra: pip install 'iotgw[cloud]' "
            "(no module named 'iotgw_not_installed_anywhere')"
        ]


def test_a_command_missing_a_module_while_it_runs_names_the_extra(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "cloud.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n\n[store]\nkind = "sqlite"\n')
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # as if `iotgw[cloud]` were not installed
    assert main(["cloud", "run", "--config", str(config)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "iotgw cloud needs the 'cloud' extra: pip install 'iotgw[cloud]' "
        "(no module named 'uvicorn')"
    ]


def test_a_missing_module_of_our_own_is_a_bug_not_an_extra(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _group_module(tmp_path, monkeypatch, "import gateway.no_such_module\n")
    with pytest.raises(ModuleNotFoundError, match=r"gateway\.no_such_module"):
        main(["fake"])


def test_unknown_arguments_of_an_installed_group_are_still_a_usage_error(
        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["detect", "x.csv", "--no-such-flag"])
    assert exc.value.code == 2
    assert "unrecognized arguments: --no-such-flag" in capsys.readouterr().err
