"""``iotgw alerts`` and ``iotgw rules`` against a real ``iotgw cloud run`` process: rules as a
file applied idempotently (create, update, delete by name; --dry-run changes nothing), alerts
listed as a table and JSON, acknowledged, silenced and unsilenced; the token from the
environment or a file."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from iotgw.cli import main as iotgw
from tests.support.processes import CloudProcess

pytestmark = pytest.mark.integration

Run = Callable[..., str]

RULES_V1 = """
[[rules]]
name = "hot"
kind = "threshold"
op = "above"
limit = 50.0
severity = "critical"
scope = { sensor = "temperature" }

[[rules]]
name = "cold"
kind = "threshold"
op = "below"
limit = -10.0
"""

RULES_V2 = """
[[rules]]
name = "hot"
kind = "threshold"
op = "above"
limit = 60.0
severity = "critical"
scope = { sensor = "temperature" }

[[rules]]
name = "humid"
kind = "threshold"
op = "above"
limit = 90.0
scope = { sensor = "humidity" }
"""


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudProcess]:
    proc = CloudProcess(tmp_path_factory.mktemp("ops") / "cloud", {"kind": "sqlite"})
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def admin_token(cloud: CloudProcess) -> str:
    """An operator's token: rules need ``admin``, which implies ``read`` and ``alerts:write``."""
    return cloud.create_token(scopes=["admin"])


@pytest.fixture
def run(cloud: CloudProcess, admin_token: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> Run:
    monkeypatch.setenv("IOTGW_CLOUD_URL", cloud.url)
    monkeypatch.setenv("IOTGW_TOKEN", admin_token)

    def invoke(*argv: str, code: int = 0) -> str:
        assert iotgw(list(argv)) == code, capsys.readouterr()
        return capsys.readouterr().out

    return invoke


def _apply(run: Run, path: Path, *extra: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(run("rules", "apply", str(path), "-o", "json", *extra))
    return result


def test_rules_apply_is_idempotent_and_matches_the_file(run: Run, tmp_path: Path) -> None:
    v1, v2 = tmp_path / "v1.toml", tmp_path / "v2.toml"
    v1.write_text(RULES_V1)
    v2.write_text(RULES_V2)
    dry = _apply(run, v1, "--dry-run")
    assert dry["dry_run"] and dry["create"] == 2
    assert json.loads(run("rules", "list", "-o", "json")) == []

    first = _apply(run, v1)
    assert (first["create"], first["update"], first["delete"]) == (2, 0, 0)
    again = _apply(run, v1)
    assert (again["create"], again["update"], again["delete"], again["unchanged"]) == (0, 0, 0, 2)

    plan = run("rules", "apply", str(v2), "--dry-run")
    assert "would create 1, update 1, delete 1; 0 unchanged" in plan
    assert "limit" in plan  # the update names the field that changes
    second = _apply(run, v2)
    assert (second["create"], second["update"], second["delete"]) == (1, 1, 1)
    rules = {r["name"]: r for r in json.loads(run("rules", "list", "-o", "json"))}
    assert set(rules) == {"hot", "humid"} and rules["hot"]["limit"] == 60.0
    assert _apply(run, v2)["unchanged"] == 2

    table = run("rules", "list")
    assert table.splitlines()[0].split() == ["ID", "NAME", "KIND", "SEVERITY", "ENABLED", "SCOPE"]
    assert "sensor=humidity" in table
    assert "deleted rule" in run("rules", "delete", "humid")
    assert [r["name"] for r in json.loads(run("rules", "list", "-o", "json"))] == ["hot"]


def _fire(cloud: CloudProcess) -> None:
    token = cloud.create_token("gw-ops")
    now = int(time.time() * 1000)
    body = {"gateway_id": "gw-ops", "batch_id": "b1", "readings": [
        {"device": "pump-1", "sensor": "temperature", "ts": now - 1000 + i, "value": 99.0,
         "seq": i} for i in range(3)], "anomalies": []}
    resp = httpx.post(f"{cloud.url}/v1/ingest", json=body, headers={
        "Authorization": f"Bearer {token}", "Idempotency-Key": "ops-b1"})
    assert resp.status_code == 200, resp.text


def test_alerts_list_ack_silence_unsilence(run: Run, cloud: CloudProcess,
                                           tmp_path: Path) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES_V1)
    _apply(run, rules)
    _fire(cloud)
    alerts = json.loads(run("alerts", "list", "--state", "firing", "-o", "json"))
    assert [(a["rule_name"], a["device"]) for a in alerts] == [("hot", "pump-1")]
    table = run("alerts", "list")
    assert table.splitlines()[0].split()[:4] == ["ID", "STATE", "SEVERITY", "RULE_NAME"]
    assert "firing" in table and "pump-1" in table

    acked = json.loads(run("alerts", "ack", str(alerts[0]["id"]), "--by", "alice", "-o", "json"))
    assert acked[0]["acked_by"] == "alice"

    created = json.loads(run("alerts", "silence", "--device", "pump-*", "--duration", "2h",
                             "--comment", "maintenance", "-o", "json"))
    silence = created[0]
    assert silence["matcher"]["device"] == "pump-*"
    assert silence["ends_ms"] - silence["starts_ms"] >= 7_190_000
    listed = run("alerts", "silences")
    assert silence["id"] in listed and "device=pump-*" in listed
    assert f"ended silence {silence['id']}" in run("alerts", "unsilence", silence["id"])


def test_the_token_comes_from_a_file_and_failures_are_one_line(
        run: Run, cloud: CloudProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    token = tmp_path / "token"
    token.write_text(cloud.create_token(scopes=["read"]) + "\n")
    monkeypatch.delenv("IOTGW_TOKEN")
    assert run("rules", "list", "--token-file", str(token), "-o", "json").startswith("[")
    # A token without the scope: one line naming the scope the route needs.
    assert iotgw(["alerts", "silence", "--device", "pump-*", "--duration", "1h",
                  "--token-file", str(token)]) == 1
    assert "alerts:write" in capsys.readouterr().err
    monkeypatch.setenv("IOTGW_TOKEN", "iotgw_unknown_token")
    assert iotgw(["rules", "list"]) == 1
    assert "401" in capsys.readouterr().err
    assert iotgw(["rules", "list", "--token-file", str(tmp_path / "missing")]) == 2
    assert "cannot read" in capsys.readouterr().err
    monkeypatch.setenv("IOTGW_TOKEN", cloud.create_token(scopes=["alerts:write", "read"]))
    assert iotgw(["alerts", "ack", "999999"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("iotgw: POST /v1/alerts/999999/ack: 404") and "\n" not in err
    assert iotgw(["alerts", "list", "--cloud-url", "http://127.0.0.1:9"]) == 1
    assert "cannot reach the cloud at http://127.0.0.1:9" in capsys.readouterr().err


def test_the_ops_client_only_talks_http() -> None:
    """iotgw/ops is a client of the cloud API: it imports nothing of cloud or gateway."""
    import ast

    ours = {"cloud", "gateway", "simulators", "common"}
    for path in (Path(__file__).resolve().parents[2] / "iotgw" / "ops").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n.split(".")[0] in ours for n in names), (path.name, names)
