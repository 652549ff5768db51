"""``iotgw detect``, driven as a real process through the ``iotgw`` entry point."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gateway.detect import DetectorBank, DetectSettings, detector_names

ROOT = Path(__file__).resolve().parents[2]
NAB = ROOT / "bench" / "data" / "nab" / "data"


def iotgw(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "iotgw.cli", *args],
        capture_output=True,
        text=True,
        input=stdin,
        cwd=ROOT,
        env=env,
        timeout=120,
    )


@pytest.fixture(scope="module")
def nab_slice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 2500 rows (all) of a NAB series with a labelled anomaly near its end."""
    lines = (NAB / "realTraffic" / "speed_6005.csv").read_text().splitlines()[:2501]
    path = tmp_path_factory.mktemp("cli") / "speed.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_one_output_row_per_input_row_with_the_contract_header(nab_slice: Path):
    result = iotgw("detect", str(nab_slice))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "timestamp,value,anomaly_score,is_anomaly"
    out = _rows(result.stdout)
    inp = _rows(nab_slice.read_text())
    assert len(out) == len(inp) == 2500
    assert [(r["timestamp"], r["value"]) for r in out] == [
        (r["timestamp"], r["value"]) for r in inp
    ]
    assert all(0.0 <= float(r["anomaly_score"]) <= 1.0 for r in out)
    assert {r["is_anomaly"] for r in out} <= {"0", "1"}
    assert result.stderr == ""  # no progress bar when stderr is not a terminal


def test_flags_match_what_the_gateway_bank_raises(nab_slice: Path, tmp_path: Path):
    config = tmp_path / "gateway.toml"
    config.write_text('[detect]\ndetector = "sentinel"\nthreshold = 0.4\nwarmup = 50\n')
    out = _rows(iotgw("detect", str(nab_slice), "--config", str(config)).stdout)
    bank = DetectorBank(DetectSettings(threshold=0.4, warmup=50), tmp_path / "state")
    bank.start()
    from firmware_protocol.timestamps import parse_timestamp

    expected = []
    for row in _rows(nab_slice.read_text()):
        ts = parse_timestamp(row["timestamp"])
        score, event = bank.step("dev", "speed", ts, float(row["value"]))
        expected.append((f"{score:.6f}", "1" if event else "0"))
    assert [(r["anomaly_score"], r["is_anomaly"]) for r in out] == expected
    assert any(flag == "1" for _, flag in expected)


def test_detector_flag_overrides_the_config(nab_slice: Path, tmp_path: Path):
    config = tmp_path / "gateway.toml"
    config.write_text('[detect]\ndetector = "sentinel"\nwarmup = 10\n')
    gaussian = iotgw("detect", str(nab_slice), "--config", str(config), "--detector", "gaussian")
    sentinel = iotgw("detect", str(nab_slice), "--config", str(config))
    assert gaussian.returncode == sentinel.returncode == 0
    assert len(_rows(gaussian.stdout)) == 2500
    assert gaussian.stdout != sentinel.stdout


def test_stdin_and_bad_rows_keep_one_row_per_input_row():
    text = "timestamp,value\n2024-01-01 00:00:00,1.5\n2024-01-01 00:05:00,oops\n1704067800,2.5\n"
    result = iotgw("detect", "-", stdin=text)
    assert result.returncode == 0
    out = _rows(result.stdout)
    assert [r["value"] for r in out] == ["1.5", "oops", "2.5"]
    assert out[1]["anomaly_score"] == "" and out[1]["is_anomaly"] == "0"
    assert "1 row(s) could not be scored" in result.stderr and "line 3" in result.stderr


@pytest.mark.parametrize(
    ("args", "config", "message"),
    [
        (["--detector", "nope"], None, "bad configuration: detect.detector: unknown detector"),
        ([], '[detect]\nthreshold = 3\n', "gateway.toml: detect.threshold: "),
        ([], '[detect]\ncolour = "red"\n', "gateway.toml: detect.colour: unknown setting"),
        ([], "[detect\n", "gateway.toml: cannot read: not valid TOML"),
    ],
)
def test_bad_settings_are_one_line_errors(
    nab_slice: Path, tmp_path: Path, args: list[str], config: str | None, message: str
):
    extra = list(args)
    if config is not None:
        path = tmp_path / "gateway.toml"
        path.write_text(config)
        extra += ["--config", str(path)]
    result = iotgw("detect", str(nab_slice), *extra)
    assert result.returncode == 2
    assert result.stdout == ""
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_missing_file_and_missing_config_are_one_line_errors(tmp_path: Path, nab_slice: Path):
    missing = iotgw("detect", str(tmp_path / "none.csv"))
    assert missing.returncode == 2 and "cannot read" in missing.stderr
    no_config = iotgw("detect", str(nab_slice), "--config", str(tmp_path / "none.toml"))
    assert no_config.returncode == 2 and "none.toml: cannot read" in no_config.stderr
    assert "Traceback" not in missing.stderr + no_config.stderr


def test_help_names_the_command():
    result = iotgw("detect", "--help")
    assert result.returncode == 0 and "--detector" in result.stdout and "--config" in result.stdout


def test_progress_bar_goes_to_a_terminal_stderr(nab_slice: Path):
    import pty
    import select

    master, slave = pty.openpty()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "iotgw.cli", "detect", str(nab_slice)],
        stdout=subprocess.PIPE,
        stderr=slave,
        cwd=ROOT,
        env=env,
    )
    os.close(slave)
    stdout, _ = proc.communicate(timeout=120)
    seen = b""
    while select.select([master], [], [], 0.5)[0]:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    assert proc.returncode == 0
    assert b"scoring [" in seen and b"100.0%" in seen
    assert b"scoring" not in stdout and len(stdout.splitlines()) == 2501


def test_binary_input_is_a_one_line_error(tmp_path: Path):
    path = tmp_path / "image.csv"
    path.write_bytes(b"timestamp,value\n\xff\xfe\x00\x81garbage\n")
    result = iotgw("detect", str(path))
    assert result.returncode == 2 and "not a UTF-8 text CSV file" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("name", [*detector_names()])
def test_every_registered_detector_scores_a_file(nab_slice: Path, name: str):
    result = iotgw("detect", str(nab_slice), "--detector", name)
    assert result.returncode == 0, result.stderr
    out = _rows(result.stdout)
    assert len(out) == 2500 and all(0.0 <= float(r["anomaly_score"]) <= 1.0 for r in out)


def test_multi_column_csv_is_scored_jointly_by_the_device_detector(tmp_path: Path):
    rng = np.random.default_rng(3)
    lines = ["timestamp,current,vibration,temperature"]
    for i in range(3000):
        load = 0.5 + 0.4 * np.sin(i / 200.0) + rng.normal(0, 0.02)
        wear = 0.0 if i < 2500 else (i - 2500) / 300.0
        lines.append(f"{1_700_000_000 + 60 * i},{10 * load + rng.normal(0, 0.1):.3f},"
                     f"{2 * load + wear + rng.normal(0, 0.05):.3f},"
                     f"{30 + 15 * load + rng.normal(0, 0.2):.3f}")
    path = tmp_path / "machine.csv"
    path.write_text("\n".join(lines) + "\n")
    result = iotgw("detect", str(path), "--detector", "mahalanobis")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "timestamp,anomaly_score,is_anomaly,sensors"
    out = _rows(result.stdout)
    assert len(out) == 3000
    flagged = [r for r in out if r["is_anomaly"] == "1"]
    assert flagged and all(int(r["timestamp"]) >= 1_700_000_000 + 60 * 2500 for r in flagged)
    assert "vibration" in flagged[0]["sensors"]
