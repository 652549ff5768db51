"""Signals and systemd's notify protocol, against a real gateway process.

SIGHUP reloads what can be reloaded (the log level here, and the uplink's batch size) and
names what needs a restart, and the gateway keeps running; a fake ``NOTIFY_SOCKET`` (a unix
datagram socket this test binds, as systemd would) receives READY=1, WATCHDOG=1 and, on
SIGTERM, STOPPING=1.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.processes import GatewayProcess, toml_text
from tests.support.servers import Mosquitto

pytestmark = pytest.mark.integration


class NotifySocket:
    """A unix datagram socket standing in for systemd's notification socket."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.5)
        self.received: list[str] = []

    def wait_for(self, state: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while state not in self.received:
            if time.monotonic() > deadline:
                raise AssertionError(f"no {state} within {timeout} s; got {self.received}")
            with contextlib.suppress(TimeoutError):
                self.received.extend(self.sock.recv(4096).decode().splitlines())

    def close(self) -> None:
        self.sock.close()


class NotifiedGateway(GatewayProcess):
    def __init__(self, workdir: Path, config: dict[str, Any], notify: Path) -> None:
        super().__init__(workdir, config)
        self.notify = notify

    def extra_env(self) -> dict[str, str]:
        return {"NOTIFY_SOCKET": str(self.notify), "WATCHDOG_USEC": "1000000"}


@pytest.fixture
def notify(tmp_path: Path) -> Iterator[NotifySocket]:
    sock = NotifySocket(tmp_path / "notify.sock")
    yield sock
    sock.close()


def _wait_log(gw: GatewayProcess, text: str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log = gw.log_path.read_text(errors="replace")
        if text in log:
            return log
        time.sleep(0.1)
    raise AssertionError(f"{text!r} not logged; log ends:\n{gw.log_tail()}")


def test_sighup_reloads_and_systemd_hears_ready_watchdog_stopping(
        tmp_path: Path, mosquitto: Mosquitto, notify: NotifySocket) -> None:
    base = GatewayProcess.for_cloud(tmp_path / "gw", mosquitto.url, "http://127.0.0.1:9",
                                    "t0", overrides={"detect": {"enabled": False}})
    gw = NotifiedGateway(tmp_path / "gw", base.config, notify.path)
    gw.start()
    try:
        notify.wait_for("READY=1")
        notify.wait_for("WATCHDOG=1")
        log = gw.log_path.read_text()
        assert "started (config " in log and str(gw.config_path) in log and "health http" in log
        assert "log level is now" not in log

        config = dict(gw.config)
        config["log"] = {"level": "DEBUG"}
        config["uplink"] = {**config["uplink"], "max_batch_rows": 77, "token": "t1"}
        config["buffer"] = {"max_bytes": 1 << 20}
        gw.config_path.write_text(toml_text(config))
        gw.send_signal(signal.SIGHUP)

        log = _wait_log(gw, "log level is now DEBUG")  # a DEBUG line: the new level is in force
        assert "received SIGHUP: reloading the settings" in log
        assert "reloaded: log.level, uplink.max_batch_rows, uplink.token" in log
        assert "need a restart to take effect: buffer.max_bytes" in log
        assert gw.running and gw.ready()
        notify.wait_for("RELOADING=1")
    finally:
        code = gw.stop()
    notify.wait_for("STOPPING=1")
    assert code == 0
    assert "Traceback" not in gw.log_path.read_text()
