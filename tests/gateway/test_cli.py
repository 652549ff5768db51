"""``iotgw gateway`` settings commands: check-config masks secrets, bad settings are one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from common.settings import ConfigError
from gateway.settings import GatewaySettings
from iotgw.cli import main as iotgw

CONFIG = """
[gateway]
id = "edge-7"
data_dir = "{data}"

[mqtt]
url = "mqtts://broker.example:8883"
username = "gw"
password = "broker-secret"
protocol = "5"

[[mqtt.subscriptions]]
topic = "sensors/{{site}}/{{device}}/{{format}}"

[[mqtt.subscriptions]]
topic = "legacy/{{device}}/up"
codec = "json"

[uplink]
url = "https://cloud.example"
token = "cloud-secret"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(text)
    return path


def test_check_config_prints_effective_settings_with_secrets_masked(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, CONFIG.format(data=tmp_path / "d"))
    monkeypatch.setenv("IOTGW_GATEWAY_BUFFER__OVERFLOW", "backpressure")
    assert iotgw(["gateway", "check-config", "--config", str(path)]) == 0
    toml = capsys.readouterr().out  # the commented TOML form (decision 64)
    assert "broker-secret" not in toml and "cloud-secret" not in toml
    assert 'password = "***"' in toml and 'overflow = "backpressure"' in toml
    assert iotgw(["gateway", "check-config", "--config", str(path), "--json"]) == 0
    out = capsys.readouterr().out
    assert "broker-secret" not in out and "cloud-secret" not in out
    shown = json.loads(out)
    assert shown["mqtt"]["password"] == "***" and shown["uplink"]["token"] == "***"
    assert shown["buffer"]["overflow"] == "backpressure"  # the environment wins over the file
    assert shown["mqtt"]["protocol"] == "5" and len(shown["mqtt"]["subscriptions"]) == 2
    s = GatewaySettings.load(path)
    assert (s.mqtt.use_tls, s.mqtt.port, s.client_id) == (True, 8883, "iotgw-edge-7")


@pytest.mark.parametrize(("text", "key"), [
    ('[buffer]\noverflow = "drop_newest"\n', "buffer.overflow"),
    ('[mqtt]\nurl = "http://x"\n', "mqtt.url"),
    ('[uplink]\nmax_batch_rows = 0\n', "uplink.max_batch_rows"),
    ('[mqtt]\nsubscriptions = [{topic = "a/{device}"}]\n', "mqtt.subscriptions.0"),
    ('[buffer]\nmax_bites = 5\n', "buffer.max_bites"),
])
def test_a_bad_setting_is_one_line_naming_the_key(tmp_path: Path, text: str, key: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        GatewaySettings.load(path, env={})
    assert f": {key}:" in str(info.value) and "\n" not in str(info.value)
    proc = subprocess.run(
        [sys.executable, "-m", "iotgw.cli", "gateway", "run", "--config", str(path)],
        capture_output=True, text=True, timeout=60, cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and key in proc.stderr and "Traceback" not in proc.stderr


def test_missing_config_file_and_missing_database_are_clear_errors(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert iotgw(["gateway", "check-config", "--config", str(tmp_path / "nope.toml")]) == 2
    assert "nope.toml: cannot read: no such file" in capsys.readouterr().err
    path = write(tmp_path, f'[gateway]\ndata_dir = "{tmp_path / "empty"}"\n')
    assert iotgw(["gateway", "dlq", "list", "--config", str(path)]) == 2
    assert "gateway.data_dir" in capsys.readouterr().err
    assert iotgw(["gateway", "dlq", "replay", "--config", str(path)]) == 2
    assert "--all" in capsys.readouterr().err


def test_gateway_help_lists_its_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        iotgw(["gateway", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert all(cmd in out for cmd in ("run", "check-config", "dlq"))


def test_a_busy_health_port_is_one_line(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        path = write(tmp_path, f'[gateway]\ndata_dir = "{tmp_path / "d"}"\n'
                               f'[health]\nport = {port}\n'
                               '[mqtt]\nurl = "mqtt://127.0.0.1:1"\n')
        proc = subprocess.run(
            [sys.executable, "-m", "iotgw.cli", "gateway", "run", "--config", str(path)],
            capture_output=True, text=True, timeout=60,
            cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 1
    assert "health.port" in proc.stderr and "Traceback" not in proc.stderr
