"""One settings loader: every command reports a bad configuration the same way.

Driven through the ``iotgw`` command's ``main()``: the same exit code (``EXIT_CONFIG``) and one
line in the format ``WHERE: section.key: message`` from ``iotgw gateway run``, ``iotgw gateway
check-config``, ``iotgw cloud run`` and ``iotgw detect --config``, whether the bad value comes
from the file (WHERE is the file) or the environment (WHERE is the variable), and a file that
cannot be read is one line too.
"""

from __future__ import annotations

import grp
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
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
    raise ValueError(kind)


@pytest.mark.parametrize("kind", ["missing", "directory", "not toml", "not utf-8"])
@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_a_file_that_cannot_be_read_is_one_line(
        name: str, kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, message = _unreadable(tmp_path, kind)
    assert iotgw([*COMMANDS[name][0], "--config", str(path)]) == EXIT_CONFIG
    assert f"bad configuration: {path}: {message}" in _one_line(capsys)


#: How to run a command as an unprivileged user (tests usually run as root here).
SETPRIV = shutil.which("setpriv")


def _as_nobody(group: str, argv: list[str]) -> subprocess.CompletedProcess[str]:
    """``iotgw ARGV`` as user nobody with only ``group`` (root reads any file)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to switch to an unprivileged user")
    if SETPRIV is None:
        pytest.skip("setpriv (util-linux) is not installed")
    env = {k: v for k, v in os.environ.items() if not k.startswith("IOTGW_")}
    env["PYTHONPATH"] = str(ROOT)
    as_nobody = [SETPRIV, "--reuid=nobody", f"--regid={group}", "--clear-groups",
                 sys.executable]
    if not _nobody_can_import(tuple(as_nobody), env):
        pytest.skip(f"user nobody cannot import the project from {ROOT} (a checkout or "
                    "virtualenv under a directory only its owner may enter, e.g. mktemp -d): "
                    "clone it where others may read")
    return subprocess.run(
        [*as_nobody, "-m", "iotgw.cli", *argv], capture_output=True, text=True, timeout=120,
        env=env, cwd="/", check=False)


def _nobody_can_import(as_nobody: tuple[str, ...], env: dict[str, str]) -> bool:
    """Whether the interpreter, run as nobody, can import the project at all (the tests'
    precondition, not what they check)."""
    done = subprocess.run([*as_nobody, "-c", "import iotgw.cli"], capture_output=True,
                          text=True, timeout=60, env=env, cwd="/", check=False)
    return done.returncode == 0


@pytest.fixture
def etc_iotgw() -> Iterator[Path]:
    """/etc/iotgw as the unit's install steps make it: root:GROUP 0750, files root:GROUP 0640,
    in a world-traversable temporary directory (the group is ``nogroup``)."""
    base = Path(tempfile.mkdtemp(prefix="iotgw-perm-"))
    base.chmod(0o755)
    etc = base / "iotgw"
    etc.mkdir()
    gid = grp.getgrnam("nogroup").gr_gid if os.geteuid() == 0 else os.getegid()
    try:
        for name, text in (("gateway.toml", "[buffer]\nmax_bytes = 65536\n"),
                           ("cloud.toml", "[limits]\nretry_after_s = 7\n")):
            (etc / name).write_text(text)
            os.chown(etc / name, 0 if os.geteuid() == 0 else -1, gid)
            (etc / name).chmod(0o640)
        os.chown(etc, 0 if os.geteuid() == 0 else -1, gid)
        etc.chmod(0o750)
        yield etc
    finally:
        shutil.rmtree(base)


@pytest.mark.parametrize("group", ["gateway", "cloud"])
def test_the_service_group_reads_the_config_the_install_steps_make(
        group: str, etc_iotgw: Path) -> None:
    done = _as_nobody("nogroup", [group, "check-config", "--config",
                                  str(etc_iotgw / f"{group}.toml"), "--json"])
    assert done.returncode == 0, done.stderr
    assert ('"max_bytes": 65536' if group == "gateway" else '"retry_after_s": 7') in done.stdout


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_a_config_the_user_cannot_read_is_one_line(name: str, etc_iotgw: Path) -> None:
    """As a user outside the config's group: one line naming the file, exit 2, no traceback."""
    argv, _text, _key = COMMANDS[name]
    config = etc_iotgw / ("cloud.toml" if argv[0] == "cloud" else "gateway.toml")
    done = _as_nobody("daemon", [*argv, "--config", str(config)])
    assert done.returncode == EXIT_CONFIG, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert f"bad configuration: {config}: cannot read: Permission denied" in lines[0]


def test_env_prefixes_still_override_the_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text('[uplink]\nmax_batch_rows = 7\n[detect]\nwarmup = 3\n')
    monkeypatch.setenv("IOTGW_GATEWAY_UPLINK__MAX_BATCH_ROWS", "9")
    monkeypatch.setenv("IOTGW_GATEWAY_DETECT__WARMUP", "4")
    assert iotgw(["gateway", "check-config", "--config", str(path)]) == 0
    assert "\nmax_batch_rows = 9\n" in capsys.readouterr().out
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


def test_environment_variables_nest_parse_json_for_tables_and_lists_and_name_bad_keys() -> None:
    s = GatewaySettings.load(None, env={
        "IOTGW_GATEWAY_MQTT__URLS": '["mqtt://127.0.0.1:1883", "mqtt://127.0.0.2:1883"]',
        "iotgw_gateway_health__port": "1234",   # names match whatever their case
        "IOTGW_GATEWAY_UPLINK": '{"max_batch_rows": 7}',
        "IOTGW_GATEWAY_UPLINK__LINGER_MS": "5",  # a key of a table given as JSON: merged
        "IOTGW_GATEWAYX": "not ours", "IOTGW_GATEWAY_NOT_A_SECTION": "ignored"})
    assert s.mqtt.broker_urls == ["mqtt://127.0.0.1:1883", "mqtt://127.0.0.2:1883"]
    assert s.health.port == 1234
    assert (s.uplink.max_batch_rows, s.uplink.linger_ms) == (7, 5)
    with pytest.raises(ConfigError, match=r"^IOTGW_GATEWAY_MQTT__URLS: mqtt.urls: not valid JSON"):
        GatewaySettings.load(None, env={"IOTGW_GATEWAY_MQTT__URLS": "mqtt://a:1883"})
    with pytest.raises(ConfigError, match=r"^IOTGW_GATEWAY_MQTT__BOGUS: mqtt.bogus: unknown"):
        GatewaySettings.load(None, env={"IOTGW_GATEWAY_MQTT__BOGUS": "1"})
