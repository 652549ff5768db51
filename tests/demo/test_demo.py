"""`iotgw demo` runs the whole system on embedded defaults and stops cleanly on its own."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_demo_runs_end_to_end_on_embedded_defaults(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "iotgw.cli", "demo", "--duration", "12",
         "--devices", "5", "--rate", "40", "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "embedded amqtt" in out.stdout
    lines = [x for x in out.stdout.splitlines() if x.startswith("  ")]
    assert re.match(r"  dashboard http://127\.0\.0\.1:\d+/ui/", lines[0]), out.stdout
    assert "stopped cleanly" in out.stdout
    check = re.search(r"check: (\d+) readings acknowledged by the broker, (\d+) stored", out.stdout)
    assert check, out.stdout
    acked, stored = int(check.group(1)), int(check.group(2))
    assert acked > 0
    assert stored >= acked
    final = re.search(r"final: received (\d+) msgs", out.stdout)  # the gateway's metrics
    assert final and int(final.group(1)) > 0, out.stdout
    assert (tmp_path / "manifest.jsonl").stat().st_size > 0
    assert (tmp_path / "logs" / "gateway.log").exists()


def test_demo_help_names_its_options() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "iotgw.cli", "demo", "--help"],
        capture_output=True, text=True, timeout=60, check=True,
    )
    for flag in ("--duration", "--broker", "--influx-url", "--devices", "--rate"):
        assert flag in out.stdout


def test_demo_reports_an_unreachable_broker_in_one_line(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "iotgw.cli", "demo", "--duration", "5",
         "--broker", "mqtt://127.0.0.1:1", "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL,
    )
    assert out.returncode == 1
    assert "iotgw demo:" in out.stderr
