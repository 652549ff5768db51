"""The systemd units in deploy/: notify protocol, watchdog, restart on failure, install steps
that let the service user read its configuration, documentation that the steps install; and a
closed output pipe (``iotgw ... | head``) ends a command quietly."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
UNITS = sorted((ROOT / "deploy").glob("iotgw-*.service"))


def _settings(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            out.setdefault(key.strip(), []).append(value.strip())
    return out


def test_there_is_a_unit_for_each_service() -> None:
    assert [u.name for u in UNITS] == ["iotgw-cloud.service", "iotgw-gateway.service",
                                       "iotgw-gateway@.service"]


def test_the_partition_template_is_the_gateway_unit_but_for_the_partition() -> None:
    """The template differs from the gateway's unit only where a partition must."""
    one = _settings((ROOT / "deploy/iotgw-gateway.service").read_text())
    many = _settings((ROOT / "deploy/iotgw-gateway@.service").read_text())
    differ = {k for k in one.keys() | many.keys() if one.get(k) != many.get(k)}
    assert differ == {"Description", "Documentation", "ExecStart", "EnvironmentFile",
                      "StateDirectory", "WorkingDirectory"}
    assert many["ExecStart"][0].endswith("--partition %i")


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_units_use_notify_a_watchdog_reload_and_restart_on_failure(unit: Path) -> None:
    s = _settings(unit.read_text())
    assert s["Type"] == ["notify"] and s["NotifyAccess"] == ["main"]
    assert re.fullmatch(r"\d+s", s["WatchdogSec"][0])
    assert s["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert s["Restart"] == ["on-failure"] and s["User"] == ["iotgw"]
    assert "ConfigurationDirectory" not in s  # systemd would make /etc/iotgw root:root 0750


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_install_steps_give_the_service_group_read_access(unit: Path) -> None:
    text = unit.read_text()
    steps = [line.lstrip("# ").strip() for line in text.splitlines() if line.startswith("#   ")]
    assert "sudo install -d -m 0750 -o root -g iotgw /etc/iotgw" in steps
    config = _settings(text)["ExecStart"][0].split("--config ", 1)[1].split()[0]
    assert any(re.search(rf"install -m 0640 -o root -g iotgw .* {re.escape(config)}$", step)
               for step in steps), steps


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_documentation_points_at_files_the_install_steps_install(unit: Path) -> None:
    text = unit.read_text()
    doc = _settings(text)["Documentation"][0]
    assert doc.startswith("file:///usr/share/doc/iotgw/")
    name = doc.rsplit("/", 1)[1]
    docs = [line for line in text.splitlines() if "-t /usr/share/doc/iotgw" in line]
    sources = [w for line in docs for w in line.split() if w.endswith(".md")]
    assert any(Path(src).name == name and (ROOT / src).is_file() for src in sources), docs


@pytest.mark.parametrize("argv", [["gateway", "config"], ["cloud", "config"]])
def test_a_closed_pipe_ends_the_command_quietly(argv: list[str]) -> None:
    """Like ``iotgw gateway config | head -0``: the reader is gone before the first write."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run([sys.executable, "-m", "iotgw.cli", *argv], stdout=write_end,
                              stderr=subprocess.PIPE, text=True, timeout=120, cwd=ROOT,
                              check=False)
    finally:
        os.close(write_end)
    assert done.stderr == ""
    assert done.returncode == 141


def test_a_reader_that_stops_early_gets_its_lines_and_no_traceback() -> None:
    """``iotgw cloud config | head -3`` through a real shell pipe."""
    done = subprocess.run(f"{sys.executable} -m iotgw.cli cloud config | head -3", shell=True,
                          capture_output=True, text=True, timeout=120, cwd=ROOT, check=True)
    assert len(done.stdout.splitlines()) == 3 and "Traceback" not in done.stderr
