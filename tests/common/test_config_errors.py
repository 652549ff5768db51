"""One settings loader: every command reports a bad configuration the same way.

Driven through the ``iotgw`` command's ``main()``: the same exit code (``EXIT_CONFIG``) and one
line in the format ``WHERE: section.key: message`` from ``iotgw gateway run``, ``iotgw gateway
check-config``, ``iotgw cloud run`` and ``iotgw detect --config``, whether the bad value comes
from the file (WHERE is the file) or the environment (WHERE is the variable), and a file that
cannot be read is one line too.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from common.settings import EXIT_CONFIG, ConfigError
from gateway.settings import GatewaySettings
from iotgw.cli import main as iotgw

ROOT = Path(__file__).resolve().parents[2]
NAB = ROOT / "bench" / "data" / "nab" / "data" / "realTraffic" / "speed_7578.csv"

#: command line (before --config), a bad gateway/cloud file, the key it names
COMMANDS = {
    "gateway run": (["gateway", "run"], '[uplink]\nurl = "ftp://x"\n', "uplink.url"),
    "gateway check-config": (["gateway", "check-config"], '[buffer]\nmax_bytes = 1\n',
                             "buffer.max_bytes"),
    "cloud run": (["cloud", "run"], "[store]\nkind = 'mysql'\n", "store.kind"),
    "detect": (["detect", str(NAB)], "[detect]\nthreshold = 3\n", "detect.threshold"),
}

#: command line (no --config), a bad environment variable, the key it names
ENV_CASES = {
    "gateway run": (["gateway", "run"], "IOTGW_GATEWAY_UPLINK__URL", "ftp://x", "uplink.url"),
    "gateway check-config": (["gateway", "check-config"], "IOTGW_GATEWAY_MQTT__KEEPALIVE_S",
                             "1", "mqtt.keepalive_s"),
    "cloud run": (["cloud", "run"], "IOTGW_CLOUD_STORE__KIND", "mysql", "store.kind"),
    "detect": (["detect", str(NAB)], "IOTGW_GATEWAY_DETECT__THRESHOLD", "3", "detect.threshold"),
}


def _one_line(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    return lines[0]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("IOTGW_GATEWAY_", "IOTGW_CLOUD_")):
            monkeypatch.delenv(name)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_a_bad_value_in_the_file_names_file_and_key(
        name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv, text, key = COMMANDS[name]
    path = tmp_path / "bad.toml"
    path.write_text(text)
    assert iotgw([*argv, "--config", str(path)]) == EXIT_CONFIG
    assert f"bad configuration: {path}: {key}: " in _one_line(capsys)


@pytest.mark.parametrize("name", sorted(ENV_CASES))
def test_a_bad_value_in_the_environment_names_the_variable(
        name: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    argv, variable, value, key = ENV_CASES[name]
    monkeypatch.setenv(variable, value)
    assert iotgw(argv) == EXIT_CONFIG
    assert f"bad configuration: {variable}: {key}: " in _one_line(capsys)


def _unreadable(tmp_path: Path, kind: str) -> tuple[Path, str]:
    path = tmp_path / "conf.toml"
    if kind == "missing":
        return path, "cannot read: no such file"
    if kind == "directory":
        path.mkdir()
        return path, "cannot read: is a directory"
    if kind == "not toml":
        path.write_text("[store\n")
        return path, "cannot read: not valid TOML"
    if kind == "not utf-8":
        path.write_bytes(b"a = '\xff\xfe'\n")
        return path, "cannot read: not"
    path.write_text("")
    path.chmod(0)
    return path, "cannot read: Permission denied"


@pytest.mark.parametrize("kind", ["missing", "directory", "not toml", "not utf-8", "no permission"])
@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_a_file_that_cannot_be_read_is_one_line(
        name: str, kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if kind == "no permission" and os.geteuid() == 0:
        pytest.skip("root reads any file")
    path, message = _unreadable(tmp_path, kind)
    try:
        assert iotgw([*COMMANDS[name][0], "--config", str(path)]) == EXIT_CONFIG
    finally:
        if path.is_file():
            path.chmod(stat.S_IRUSR | stat.S_IWUSR)
    assert f"bad configuration: {path}: {message}" in _one_line(capsys)


def test_env_prefixes_still_override_the_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text('[uplink]\nmax_batch_rows = 7\n[detect]\nwarmup = 3\n')
    monkeypatch.setenv("IOTGW_GATEWAY_UPLINK__MAX_BATCH_ROWS", "9")
    monkeypatch.setenv("IOTGW_GATEWAY_DETECT__WARMUP", "4")
    assert iotgw(["gateway", "check-config", "--config", str(path)]) == 0
    assert '"max_batch_rows": 9' in capsys.readouterr().out
    from gateway.detect.settings import load_detect_settings

    assert load_detect_settings(path).warmup == 4
    from cloud.settings import load_settings

    monkeypatch.setenv("IOTGW_CLOUD_LIMITS__RETRY_AFTER_S", "11")
    assert load_settings(None).limits.retry_after_s == 11


def test_a_handed_in_environment_is_used_and_the_process_environment_left_alone(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IOTGW_GATEWAY_HEALTH__PORT", "1234")
    before = dict(os.environ)
    s = GatewaySettings.load(None, env={"IOTGW_GATEWAY_HEALTH__HOST": "::1"})
    assert (s.health.host, s.health.port) == ("::1", 9108)  # only the mapping counts
    assert dict(os.environ) == before
    with pytest.raises(ConfigError, match=r"^IOTGW_GATEWAY_HEALTH__PORT: health\.port: "):
        GatewaySettings.load(None, env={"IOTGW_GATEWAY_HEALTH__PORT": "-5"})
    assert dict(os.environ) == before
