"""`iotgw cloud`: settings from TOML and the environment, token commands, and `run` as a process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from cloud.settings import load_settings
from common.settings import EXIT_CONFIG, ConfigError
from iotgw.cli import main
from tests.support.servers import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_settings_from_toml_with_env_overrides(tmp_path, monkeypatch):
    cfg = tmp_path / "cloud.toml"
    cfg.write_text('data_dir = "d"\n[store]\nkind = "influxdb"\ndatabase = "plant"\n'
                   'retention_policy = "one year"\n[limits]\nseries_point_budget = 500\n')
    monkeypatch.setenv("IOTGW_CLOUD_STORE__DATABASE", "from-env")
    monkeypatch.setenv("IOTGW_CLOUD_SERVER__PORT", "9090")
    s = load_settings(cfg)
    assert (s.store.kind, s.store.database, s.store.retention_policy) == (
        "influxdb", "from-env", "one year")
    assert (s.server.port, s.limits.series_point_budget) == (9090, 500)
    assert s.metadata_url() == f"sqlite:///{Path('d') / 'meta.sqlite3'}"


@pytest.mark.parametrize("text, message", [
    ("[store]\nkind = 'mysql'\n", "store.kind: Input should be 'sqlite' or 'influxdb'"),
    ("[limits]\nmax_body_bytes = 5\n", "limits.max_body_bytes: Input should be greater"),
    ("[stroe]\nkind = 'sqlite'\n", "stroe: unknown setting"),
    ("[store\n", "not valid TOML"),
])
def test_bad_settings_are_one_line_naming_the_key(tmp_path, text, message):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_settings(cfg)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_token_commands(tmp_path, capsys):
    cfg = tmp_path / "cloud.toml"
    cfg.write_text(f'data_dir = "{tmp_path / "data"}"\n')
    assert main(["cloud", "token", "create", "--gateway", "plant-7", "--config", str(cfg)]) == 0
    out = capsys.readouterr()
    token = out.out.strip()
    assert token.startswith("iotgw_") and "shown once" in out.err
    assert main(["cloud", "token", "list", "--config", str(cfg)]) == 0
    listing = capsys.readouterr().out
    assert "plant-7" in listing and token not in listing
    token_id = token.split("_")[1]
    assert main(["cloud", "token", "revoke", token_id, "--config", str(cfg)]) == 0
    assert main(["cloud", "token", "revoke", token_id, "--config", str(cfg)]) == 1
    assert "no active token" in capsys.readouterr().err
    missing = tmp_path / "missing.toml"
    assert main(["cloud", "token", "list", "--config", str(missing)]) == EXIT_CONFIG
    assert f"{missing}: cannot read: no such file" in capsys.readouterr().err


def test_scoped_tokens_device_bindings_and_migrate_commands(tmp_path, capsys):
    cfg = tmp_path / "cloud.toml"
    cfg.write_text(f'data_dir = "{tmp_path / "data"}"\n')
    c = ["--config", str(cfg)]
    assert main(["cloud", "migrate", *c]) == 0
    assert "migrated the metadata database" in capsys.readouterr().err
    assert main(["cloud", "migrate", *c]) == 0
    assert "up to date" in capsys.readouterr().err
    assert main(["cloud", "token", "create", "--scope", "admin", "--name", "ops",
                 "--expires", "30d", *c]) == 0
    out = capsys.readouterr()
    assert out.out.strip().startswith("iotgw_") and "(admin)" in out.err
    assert main(["cloud", "token", "create", "--scope", "read", "--scope", "alerts:write",
                 "--expires", "2099-01-31", *c]) == 0
    capsys.readouterr()
    assert main(["cloud", "token", "create", "--scope", "ingest", *c]) == 1
    assert "needs --gateway" in capsys.readouterr().err
    assert main(["cloud", "token", "create", "--scope", "read", "--gateway", "g", *c]) == 1
    assert main(["cloud", "token", "create", "--expires", "someday", "--gateway", "g", *c]) == 1
    capsys.readouterr()
    assert main(["cloud", "token", "list", *c]) == 0
    listing = capsys.readouterr().out
    assert "SCOPES" in listing and "LAST USED" in listing and "EXPIRES" in listing
    assert "ops" in listing and "alerts:write,read" in listing and "2099-01-31" in listing
    assert main(["cloud", "device", "bind", "pump-9", "--gateway", "gw-2", *c]) == 0
    assert "now belongs to gateway 'gw-2'" in capsys.readouterr().err
    assert main(["cloud", "device", "unbind", "pump-9", *c]) == 0
    assert main(["cloud", "device", "unbind", "pump-9", *c]) == 1
    assert "has no owner" in capsys.readouterr().err


@pytest.mark.integration
def test_cloud_run_serves_the_api_as_a_process(tmp_path):
    port = free_port()
    cfg = tmp_path / "cloud.toml"
    cfg.write_text(f'data_dir = "{tmp_path / "data"}"\n[server]\nport = {port}\n'
                   'log_level = "warning"\n')
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    made = subprocess.run([sys.executable, "-m", "iotgw.cli", "cloud", "token", "create",
                           "--gateway", "gw", "--config", str(cfg)],
                          capture_output=True, text=True, env=env, timeout=60, check=True)
    token = made.stdout.strip()
    reader = subprocess.run([sys.executable, "-m", "iotgw.cli", "cloud", "token", "create",
                             "--scope", "read", "--config", str(cfg)],
                            capture_output=True, text=True, env=env, timeout=60, check=True)
    proc = subprocess.Popen([sys.executable, "-m", "iotgw.cli", "cloud", "run",
                             "--config", str(cfg), "--host", "127.0.0.1"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read()
            time.sleep(0.1)
        body = {"gateway_id": "gw", "batch_id": "b", "readings": [
            {"device": "d", "sensor": "s", "ts": 1_700_000_000_000, "value": 4.5, "seq": 1}]}
        r = httpx.post(f"{url}/v1/ingest", json=body, timeout=10,
                       headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "k"})
        assert r.status_code == 200 and r.json()["accepted"] == 1
        s = httpx.get(f"{url}/v1/series", params={"device": "d", "sensor": "s",
                                                  "start": "1699999999000",
                                                  "end": "1700000001000", "agg": "last"},
                      headers={"Authorization": f"Bearer {reader.stdout.strip()}"})
        assert s.json()["last"] == [4.5]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
        proc.stdout.close()
    # uvicorn shuts down gracefully, then re-raises SIGTERM so the exit status tells why.
    assert proc.returncode in (0, -signal.SIGTERM)


def test_served_workers_tune_the_garbage_collector():
    import gc

    from cloud.app import tune_gc

    before = gc.get_threshold()
    try:
        tune_gc(0)  # 0 leaves the collector alone
        assert gc.get_threshold() == before and gc.get_freeze_count() == 0
        tune_gc(12_345)
        assert gc.get_threshold() == (12_345, *before[1:])
        assert gc.get_freeze_count() > 0  # the start-up heap is out of collections
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
    assert load_settings(None).server.gc_threshold == 20_000
    with pytest.raises(ConfigError, match=r"server\.gc_threshold"):
        load_settings(None, server={"gc_threshold": -1})
