"""Configuration that explains itself: the sample files and the docs' tables come from the
settings models, load back to the defaults, and the two deployables' defaults meet."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from pydantic import BaseModel

from cloud.settings import CloudSettings, load_settings
from common.sample_config import FieldDoc, fields_of
from gateway.settings import GatewaySettings
from iotgw.cli import main as iotgw

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("IOTGW_GATEWAY_", "IOTGW_CLOUD_")):
            monkeypatch.delenv(name)


def _leaves(model: type[BaseModel], prefix: str = "") -> Iterator[FieldDoc]:
    for item in fields_of(model, None, prefix):
        if isinstance(item, FieldDoc):
            yield item
        else:
            yield from _leaves(item[1], item[0] + ".")


@pytest.mark.parametrize("model", [GatewaySettings, CloudSettings])
def test_every_key_says_what_it_means(model: type[BaseModel]) -> None:
    missing = [f.key for f in _leaves(model) if not f.description.strip()]
    assert missing == []


def _sample(argv: list[str], capsys: pytest.CaptureFixture[str], tmp_path: Path) -> Path:
    assert iotgw(argv) == 0
    path = tmp_path / "sample.toml"
    path.write_text(capsys.readouterr().out)
    return path


def test_the_gateway_sample_loads_back_to_the_defaults(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _sample(["gateway", "config"], capsys, tmp_path)
    text = path.read_text()
    assert "\n[uplink]\n" in text and "\n[[mqtt.subscriptions]]\n" in text
    assert "Unit: seconds." in text and "# password =" in text
    assert GatewaySettings.load(path, env={}) == GatewaySettings.load(None, env={})


def test_the_cloud_sample_loads_back_to_the_defaults(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _sample(["cloud", "config"], capsys, tmp_path)
    assert "\n[alerting.webhooks]\n" in path.read_text()
    assert load_settings(path, env={}) == load_settings(None, env={})


def test_check_config_prints_the_effective_settings_as_toml_with_secrets_masked(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text('[uplink]\nmax_batch_rows = 7\n[[mqtt.subscriptions]]\ntopic = "a/{device}"\n'
                      'codec = "json"\n')
    monkeypatch.setenv("IOTGW_GATEWAY_UPLINK__TOKEN", "s3cret")
    out = _sample(["gateway", "check-config", "--config", str(config)], capsys, tmp_path)
    text = out.read_text()
    assert "s3cret" not in text and 'token = "***"' in text
    loaded = GatewaySettings.load(out, env={"IOTGW_GATEWAY_UPLINK__TOKEN": "s3cret"})
    assert loaded == GatewaySettings.load(config, env={"IOTGW_GATEWAY_UPLINK__TOKEN": "s3cret"})
    assert iotgw(["gateway", "check-config", "--config", str(config), "--json"]) == 0
    assert '"max_batch_rows": 7' in capsys.readouterr().out


def test_cloud_check_config_prints_toml_and_json(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IOTGW_CLOUD_STORE__PASSWORD", "hunter2")
    assert iotgw(["cloud", "check-config"]) == 0
    out = capsys.readouterr().out
    assert 'password = "***"' in out and "hunter2" not in out and "\n[limits]\n" in out
    assert iotgw(["cloud", "check-config", "--json"]) == 0
    assert '"password": "***"' in capsys.readouterr().out


def test_the_docs_tables_are_generated_from_the_models() -> None:
    done = subprocess.run([sys.executable, "scripts/generate_config_docs.py", "--check"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "`uplink.token`" in (ROOT / "docs" / "gateway.md").read_text()
    assert "`alerting.webhooks.max_attempts`" in (ROOT / "docs" / "cloud.md").read_text()


def test_the_gateways_default_uplink_is_the_clouds_default_address() -> None:
    gateway = urlsplit(GatewaySettings.load(None, env={}).uplink.url)
    cloud = load_settings(None, env={}).server
    assert (gateway.hostname, gateway.port) == (cloud.host, cloud.port)
