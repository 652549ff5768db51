"""Real Mosquitto and InfluxDB servers on free loopback ports, for tests and benchmarks.

Each server gets a throwaway config and data directory, listens on 127.0.0.1 only, and can be
stopped, killed and started again on the same port and data directory (broker-restart and
database-outage scenarios). Nothing here mocks anything.

When a binary is missing, :func:`need_binary` fails the test under ``CI=true`` and skips it
elsewhere with a line saying how to install it.
"""

from __future__ import annotations

import base64
import contextlib
import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

LOOPBACK = "127.0.0.1"
_SEARCH_PATH = os.pathsep.join(
    [os.environ.get("PATH", ""), "/usr/sbin", "/usr/bin", "/sbin", "/usr/local/sbin"]
)
INSTALL_HINT = (
    "install it with `sudo apt-get install mosquitto influxdb` (or run `make test`, "
    "which installs them when it can)"
)


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def find_binary(name: str) -> str | None:
    return shutil.which(name, path=_SEARCH_PATH)


def need_binary(name: str) -> str:
    """The path of ``name``; without it, fail under CI and skip elsewhere."""
    path = find_binary(name)
    if path is None:
        message = f"`{name}` is not installed: {INSTALL_HINT}"
        if in_ci():
            pytest.fail(f"{message} (CI=true: integration tests must not be skipped)")
        pytest.skip(message)
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {_tail(log)}")
        with contextlib.suppress(OSError), socket.create_connection((LOOPBACK, port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {LOOPBACK}:{port} after {timeout}s: {_tail(log)}")


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class _Server:
    """A server process with start/stop/kill/restart on a fixed port and data directory."""

    name = "server"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / f"{self.name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def wait_ready(self, proc: subprocess.Popen[bytes]) -> None:
        raise NotImplementedError

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        if self.running:
            return
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            self.command(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=self.workdir, start_new_session=True,
        )
        log.close()
        try:
            self.wait_ready(self.proc)
        except Exception:
            self.kill()
            raise

    def stop(self, timeout: float = 15.0) -> None:
        """Stop gracefully (SIGTERM), so the server saves its state; kill if it hangs."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self) -> None:
        """Stop abruptly (SIGKILL), as a crash or power cut would."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


class Mosquitto(_Server):
    """Debian's ``mosquitto`` with persistence on and queue limits set so nothing is dropped.

    ``max_queued_messages 0`` lifts the default limit of 1000 queued QoS 1 messages per client,
    above which Mosquitto silently drops messages for a subscriber that falls behind; tests that
    reconcile losses must run on settings that cannot drop.
    """

    name = "mosquitto"

    def __init__(self, workdir: Path, port: int | None = None, extra_config: str = "") -> None:
        super().__init__(workdir)
        self.binary = need_binary("mosquitto")
        self.host = LOOPBACK
        self.port = port or free_port()
        self.extra_config = extra_config
        self.config_path = workdir / "mosquitto.conf"
        (workdir / "data").mkdir(exist_ok=True)

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def config_text(self) -> str:
        return "\n".join(
            [
                f"listener {self.port} {LOOPBACK}",
                # Started as root, mosquitto would drop to the `mosquitto` user and lose
                # access to our throwaway directories: run as whoever started it.
                f"user {getpass.getuser()}",
                "allow_anonymous true",
                "persistence true",
                f"persistence_location {self.workdir / 'data'}/",
                "autosave_interval 1",
                "max_queued_messages 0",
                "max_queued_bytes 0",
                "max_inflight_messages 20",
                "persistent_client_expiration 1d",
                f"log_dest file {self.log_path}",
                "log_type error",
                "log_type warning",
                "log_type notice",
                self.extra_config,
                "",
            ]
        )

    def command(self) -> list[str]:
        self.config_path.write_text(self.config_text())
        return [self.binary, "-c", str(self.config_path)]

    def wait_ready(self, proc: subprocess.Popen[bytes]) -> None:
        wait_for_port(self.port, proc, 15.0, self.log_path)


class InfluxDB(_Server):
    """Debian's ``influxd`` (1.x) with every bind address on loopback and data in ``workdir``.

    Serves the v1 HTTP API (``/write``, ``/query``, ``/ping``) on :attr:`port`; the RPC
    (backup) port is also a free loopback port, so several can run side by side.
    """

    name = "influxd"

    def __init__(self, workdir: Path, username: str = "", password: str = "") -> None:
        super().__init__(workdir)
        self.binary = need_binary("influxd")
        self.host = LOOPBACK
        self.port = free_port()
        self.rpc_port = free_port()
        self.username = username
        self.password = password
        self.config_path = workdir / "influxdb.conf"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def config_text(self) -> str:
        d = self.workdir
        auth = "true" if self.username else "false"
        return f"""
reporting-disabled = true
bind-address = "{LOOPBACK}:{self.rpc_port}"

[meta]
  dir = "{d / 'meta'}"

[data]
  dir = "{d / 'data'}"
  wal-dir = "{d / 'wal'}"
  query-log-enabled = false
  wal-fsync-delay = "0s"

[http]
  enabled = true
  bind-address = "{LOOPBACK}:{self.port}"
  auth-enabled = {auth}
  log-enabled = false
  flux-enabled = false

[monitor]
  store-enabled = false

[subscriber]
  enabled = false

[continuous_queries]
  enabled = false

[logging]
  level = "warn"
"""

    def command(self) -> list[str]:
        self.config_path.write_text(self.config_text())
        return [self.binary, "-config", str(self.config_path)]

    def wait_ready(self, proc: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + 30.0
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"influxd exited with {proc.returncode}: {_tail(self.log_path)}")
            with (
                contextlib.suppress(OSError, urllib.error.URLError),
                urllib.request.urlopen(f"{self.url}/ping", timeout=1) as resp,
            ):
                if resp.status == 204:
                    if self.username:
                        self._bootstrap_admin()
                    return
            time.sleep(0.1)
        raise RuntimeError(f"influxd did not answer /ping within 30s: {_tail(self.log_path)}")

    def _bootstrap_admin(self) -> None:
        """With auth on, the first user must be an admin; creating it again is harmless."""
        q = (
            f"CREATE USER \"{self.username}\" WITH PASSWORD '{self.password}' "
            "WITH ALL PRIVILEGES"
        )
        with contextlib.suppress(urllib.error.HTTPError):
            self.query(q, method="POST")

    def _request(self, path: str, params: dict[str, str], data: bytes | None,
                 method: str) -> tuple[int, bytes]:
        url = f"{self.url}{path}?{urllib.parse.urlencode(params)}"
        req = urllib.request.Request(url, data=data, method=method)
        if self.username:
            token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
            req.add_header("Authorization", f"Basic {token}")
        with urllib.request.urlopen(req, timeout=10) as resp:
            return int(resp.status), resp.read()

    def query(self, q: str, db: str | None = None, method: str = "GET") -> bytes:
        params = {"q": q}
        if db:
            params["db"] = db
        return self._request("/query", params, b"" if method == "POST" else None, method)[1]

    def create_database(self, name: str) -> None:
        self.query(f'CREATE DATABASE "{name}"', method="POST")

    def write_lines(self, db: str, lines: str, precision: str = "ms") -> int:
        status, _ = self._request(
            "/write", {"db": db, "precision": precision}, lines.encode(), "POST"
        )
        return status
