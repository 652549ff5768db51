"""``iotgw gateway check-config --connect`` against a real broker and a real cloud process:
all OK with a good token; a wrong token is one clear ``token rejected: 401`` line and exit 1;
an unreachable broker is named."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from iotgw.cli import main as iotgw
from tests.support.processes import CloudProcess, toml_text
from tests.support.servers import Mosquitto

pytestmark = pytest.mark.integration


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[CloudProcess]:
    proc = CloudProcess(tmp_path / "cloud", {"kind": "sqlite"})
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("IOTGW_GATEWAY_"):
            monkeypatch.delenv(name)


def _config(tmp_path: Path, broker: str, cloud: str, token: str) -> str:
    path = tmp_path / "gateway.toml"
    path.write_text(toml_text({"gateway": {"id": "gw-check", "data_dir": str(tmp_path / "d")},
                               "mqtt": {"url": broker},
                               "uplink": {"url": cloud, "token": token}}))
    return str(path)


def test_connect_checks_broker_cloud_and_token(
        tmp_path: Path, mosquitto: Mosquitto, cloud: CloudProcess,
        capsys: pytest.CaptureFixture[str]) -> None:
    token = cloud.create_token("gw-check")
    good = _config(tmp_path, mosquitto.url, cloud.url, token)
    assert iotgw(["gateway", "check-config", "--config", good, "--connect"]) == 0
    out = capsys.readouterr().out
    assert f"broker {mosquitto.url}: OK (connected)" in out
    assert f"cloud {cloud.url}: OK (reachable)" in out
    assert "cloud token: OK (accepted)" in out
    assert token not in out

    wrong = _config(tmp_path, mosquitto.url, cloud.url, "not-a-token")
    assert iotgw(["gateway", "check-config", "--config", wrong, "--connect"]) == 1
    captured = capsys.readouterr()
    assert "cloud token: FAILED: token rejected: 401" in captured.out
    assert captured.err.strip().endswith("check failed: cloud token")


def test_connect_names_an_unreachable_broker_and_cloud(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _config(tmp_path, "mqtt://127.0.0.1:9", "http://127.0.0.1:9", "x")
    assert iotgw(["gateway", "check-config", "--config", path, "--connect"]) == 1
    captured = capsys.readouterr()
    assert "broker mqtt://127.0.0.1:9: FAILED: cannot connect" in captured.out
    assert "cloud http://127.0.0.1:9: FAILED: cannot reach" in captured.out
    assert captured.err.strip().endswith("check failed: broker, cloud, cloud token")
