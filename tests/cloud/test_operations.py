"""The cloud as an operated service, against a real ``iotgw cloud run`` process: request ids
in responses and JSON log lines, one start line, systemd's notify protocol, SIGHUP, and
``check-config --connect`` against real InfluxDB and PostgreSQL/SQLite."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from iotgw.cli import main as iotgw
from tests.conftest import InfluxDatabase
from tests.gateway.test_signals import NotifySocket
from tests.support.http import UvicornThread
from tests.support.processes import CloudProcess, toml_text

pytestmark = pytest.mark.integration


class NotifiedCloud(CloudProcess):
    notify: Path | None = None

    def extra_env(self) -> dict[str, str]:
        return {"NOTIFY_SOCKET": str(self.notify), "WATCHDOG_USEC": "1000000"}


def _wait_log(proc: CloudProcess, text: str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log = proc.log_path.read_text(errors="replace")
        if text in log:
            return log
        time.sleep(0.1)
    raise AssertionError(f"{text!r} not logged; log ends:\n{proc.log_tail()}")


def test_request_ids_json_logs_start_line_notify_and_sighup(tmp_path: Path) -> None:
    notify = NotifySocket(tmp_path / "notify.sock")
    cloud = NotifiedCloud(tmp_path / "cloud", {"kind": "sqlite"})
    cloud.notify = notify.path
    cloud.config["server"].update(log_level="info", log_format="json")
    cloud.write_config()
    cloud.start()
    try:
        notify.wait_for("READY=1")
        notify.wait_for("WATCHDOG=1")
        resp = httpx.get(f"{cloud.url}/v1/devices", headers={"X-Request-ID": "req-abc.1"})
        assert resp.headers["X-Request-ID"] == "req-abc.1"
        fresh = httpx.get(f"{cloud.url}/healthz").headers["X-Request-ID"]
        assert len(fresh) == 32 and fresh != "req-abc.1"
        bad = httpx.get(f"{cloud.url}/healthz", headers={"X-Request-ID": "a b\tc"})
        assert bad.headers["X-Request-ID"] != "a b\tc"
        lines = [json.loads(line) for line in cloud.log_path.read_text().splitlines()
                 if line.startswith("{")]
        start = [x for x in lines if "cloud starting" in x["msg"]]
        assert len(start) == 1 and str(cloud.config_path) in start[0]["msg"]
        assert f"serving http://127.0.0.1:{cloud.port}" in start[0]["msg"]

        cloud.config["server"]["log_level"] = "debug"
        cloud.config["limits"] = {"retry_after_s": 9}
        cloud.write_config()
        cloud.send_signal(signal.SIGHUP)
        log = _wait_log(cloud, "need a restart to take effect: limits.retry_after_s")
        assert "reloaded: server.log_level" in log
        assert cloud.running and cloud.ready()
    finally:
        code = cloud.stop()
        notify.close()
    assert code == 0


def test_request_id_is_in_each_log_line_of_its_request(
        tmp_path: Path, http: Callable[[Any], UvicornThread]) -> None:
    import logging

    from cloud.app import create_app
    from cloud.settings import load_settings
    from common.logs import JsonFormatter

    settings = load_settings(None, env={}, data_dir=str(tmp_path))
    app = create_app(settings)

    @app.get("/logs-something")
    def _logs() -> dict[str, str]:
        logging.getLogger("cloud.test").warning("inside the request")
        return {}

    records: list[str] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(JsonFormatter().format(record))

    handler = Capture()
    logging.getLogger("cloud.test").addHandler(handler)
    try:
        server = http(app)
        resp = httpx.get(f"{server.url}/logs-something", headers={"X-Request-ID": "rid-42"})
    finally:
        logging.getLogger("cloud.test").removeHandler(handler)
    assert resp.headers["x-request-id"] == "rid-42"
    assert [json.loads(r)["request_id"] for r in records] == ["rid-42"]


def test_check_config_connect_names_what_failed(
        tmp_path: Path, influxdb: InfluxDatabase, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("IOTGW_CLOUD_STORE__KIND", "IOTGW_CLOUD_STORE__URL"):
        monkeypatch.delenv(name, raising=False)
    good = tmp_path / "good.toml"
    good.write_text(toml_text({"data_dir": str(tmp_path / "data"), "store": {
        "kind": "influxdb", "url": influxdb.url, "database": influxdb.database}}))
    assert iotgw(["cloud", "check-config", "--config", str(good), "--connect"]) == 0
    out = capsys.readouterr().out
    assert "store influxdb" in out and ("answers queries" in out or "created at start-up" in out)
    assert "metadata sqlite" in out and out.count(": OK (") == 2

    bad = tmp_path / "bad.toml"
    bad.write_text(toml_text({"data_dir": str(tmp_path / "data"), "store": {
        "kind": "influxdb", "url": "http://127.0.0.1:9", "database": "x"},
        "metadata": {"url": "postgresql+psycopg://nobody@127.0.0.1:9/none"}}))
    assert iotgw(["cloud", "check-config", "--config", str(bad), "--connect"]) == 1
    captured = capsys.readouterr()
    assert "store influxdb http://127.0.0.1:9: FAILED: cannot reach" in captured.out
    assert "metadata postgresql+psycopg://nobody@127.0.0.1:9/none: FAILED" in captured.out
    assert captured.err.strip().endswith("check failed: store, metadata")
