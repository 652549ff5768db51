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
import pwd
import shutil
import signal
import subprocess
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from iotgw.processes import LOOPBACK, ChildProcess, free_port, http_ok

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


def need_binary(name: str, hint: str = INSTALL_HINT) -> str:
    """The path of ``name``; without it, fail under CI and skip elsewhere (saying ``hint``)."""
    path = find_binary(name)
    if path is None:
        message = f"`{name}` is not installed: {hint}"
        if in_ci():
            pytest.fail(f"{message} (CI=true: integration tests must not be skipped)")
        pytest.skip(message)
    return path


class _Server(ChildProcess):
    """A server process with start/stop/kill/restart on a fixed port and data directory.

    Spawning, stopping, killing and log capture are :class:`iotgw.processes.ChildProcess`'s;
    a server adds its command line and how to tell it is ready.
    """

    name = "server"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        super().__init__(self.name, None, workdir / f"{self.name}.log", cwd=workdir)

    def wait_ready(self) -> None:
        raise NotImplementedError

    def start(self) -> None:
        if self.running:
            return
        super().start()
        try:
            self.wait_ready()
        except Exception:
            self.kill()
            raise

    def stop(self, timeout: float = 15.0, sig: int = signal.SIGTERM) -> int | None:
        """Stop gracefully (SIGTERM), so the server saves its state; kill if it hangs."""
        return super().stop(timeout, sig)


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
                "persistent_client_expiration 7d",
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

    def wait_ready(self) -> None:
        self.wait_port(self.port, 15.0)


SHIPPED_MOSQUITTO_CONF = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto" / \
    "mosquitto.conf"


class ShippedMosquitto(Mosquitto):
    """Mosquitto running the shipped ``deploy/mosquitto/mosquitto.conf``, changed only where a
    test must: the listener (a free loopback port), the data directory, the log file and the
    user (mosquitto started as root would switch to a user that cannot reach our directories).
    Every other line, the persistence and queue settings above all, is the shipped one."""

    #: (shipped line, replacement) - each must match exactly one line of the shipped file.
    def adaptations(self) -> list[tuple[str, str]]:
        return [
            ("listener 1883 0.0.0.0", f"listener {self.port} {LOOPBACK}\nuser {getpass.getuser()}"),
            ("persistence_location /mosquitto/data/",
             f"persistence_location {self.workdir / 'data'}/"),
            ("log_dest stdout", f"log_dest file {self.log_path}"),
        ]

    def config_text(self) -> str:
        lines = SHIPPED_MOSQUITTO_CONF.read_text().splitlines()
        for shipped, replacement in self.adaptations():
            hits = [i for i, line in enumerate(lines) if line.strip() == shipped]
            if len(hits) != 1:
                raise AssertionError(f"shipped mosquitto.conf: expected one line {shipped!r}")
            lines[hits[0]] = replacement
        return "\n".join([*lines, self.extra_config, ""])


class InfluxDB(_Server):
    """Debian's ``influxd`` (1.x) with every bind address on loopback and data in ``workdir``.

    Serves the v1 HTTP API (``/write``, ``/query``, ``/ping``) on :attr:`port`; the RPC
    (backup) port is also a free loopback port, so several can run side by side.
    """

    name = "influxd"

    def __init__(self, workdir: Path, username: str = "", password: str = "",
                 cq_run_interval: str = "") -> None:
        """``cq_run_interval`` (e.g. ``"1s"``) turns continuous queries on, checked that often."""
        super().__init__(workdir)
        self.cq_run_interval = cq_run_interval
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
  enabled = {"true" if self.cq_run_interval else "false"}
  run-interval = "{self.cq_run_interval or '1s'}"

[logging]
  level = "warn"
"""

    def command(self) -> list[str]:
        self.config_path.write_text(self.config_text())
        return [self.binary, "-config", str(self.config_path)]

    def wait_ready(self) -> None:
        self.wait_for(lambda: http_ok(f"{self.url}/ping", timeout=1), 30.0, "answer /ping")
        if self.username:
            self._bootstrap_admin()

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


def find_postgres_bindir() -> Path | None:
    """Debian's PostgreSQL server binaries (newest version), or ``$IOTGW_PG_BINDIR``."""
    env = os.environ.get("IOTGW_PG_BINDIR")
    candidates = [Path(env)] if env else []
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"),
                         key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
                         reverse=True)
    for c in candidates:
        if (c / "initdb").exists() and (c / "postgres").exists():
            return c
    initdb = find_binary("initdb")
    return Path(initdb).parent if initdb else None


class PostgreSQL(_Server):
    """Debian's PostgreSQL on a free loopback port, trust auth, data in a throwaway directory.

    ``initdb`` and ``postgres`` refuse to run as root. When the tests run as root (containers,
    CI), both run as the unprivileged ``nobody`` user (``IOTGW_PG_USER`` overrides it): the data
    directory is a fresh ``mkdtemp`` under the system temp dir (pytest's ``tmp_path`` lives
    under a root-only ``0700`` directory ``nobody`` cannot enter) and is handed to that user
    with ``chown``; the process is started with ``Popen(user=..., group=...)``. Running as
    anyone else, they simply run as that user. The unix socket goes in the same directory.
    """

    name = "postgres"

    def __init__(self) -> None:
        bindir = find_postgres_bindir()
        if bindir is None:
            message = ("PostgreSQL is not installed: install it with "
                       "`sudo apt-get install postgresql` (or run `bash scripts/test.sh`)")
            if in_ci():
                pytest.fail(f"{message} (CI=true: integration tests must not be skipped)")
            pytest.skip(message)
        self.bindir = bindir
        workdir = Path(tempfile.mkdtemp(prefix="iotgw-pg-"))
        super().__init__(workdir)
        self.host = LOOPBACK
        self.port = free_port()
        self.datadir = workdir / "data"
        self.run_as: str | None = None
        if os.geteuid() == 0:
            self.run_as = os.environ.get("IOTGW_PG_USER", "nobody")
            pw = pwd.getpwnam(self.run_as)
            os.chown(workdir, pw.pw_uid, pw.pw_gid)
        self.popen_kwargs = self._run_as_kwargs()

    def _run_as_kwargs(self) -> dict[str, Any]:
        if self.run_as is None:
            return {}
        pw = pwd.getpwnam(self.run_as)
        return {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}

    def _initdb(self) -> None:
        out = subprocess.run(
            [str(self.bindir / "initdb"), "-D", str(self.datadir), "-U", "postgres",
             "--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync"],
            capture_output=True, cwd=self.workdir, timeout=120, check=False,
            **self._run_as_kwargs(),
        )
        if out.returncode != 0:
            raise RuntimeError(f"initdb failed: {out.stderr.decode(errors='replace')[-2000:]}")

    def command(self) -> list[str]:
        if not (self.datadir / "PG_VERSION").exists():
            self._initdb()
        return [
            str(self.bindir / "postgres"), "-D", str(self.datadir), "-p", str(self.port),
            "-k", str(self.workdir), "-c", f"listen_addresses={LOOPBACK}",
            "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
            "-c", "max_connections=60", "-c", "shared_buffers=16MB",
            "-c", "dynamic_shared_memory_type=mmap",
        ]

    def wait_ready(self) -> None:
        self.wait_port(self.port, 30.0)
        self.wait_for(self._isready, 30.0, "accept connections")

    def _isready(self) -> bool:
        ready = subprocess.run(
            [str(self.bindir / "pg_isready"), "-h", LOOPBACK, "-p", str(self.port), "-q"],
            check=False, timeout=10,
        )
        return ready.returncode == 0

    def stop(self, timeout: float = 15.0, sig: int = signal.SIGINT) -> int | None:
        """Fast shutdown (SIGINT): SIGTERM would wait for every client to disconnect."""
        return super().stop(timeout, sig)

    def url(self, database: str = "postgres") -> str:
        """SQLAlchemy URL (psycopg 3) of a database on this server."""
        return f"postgresql+psycopg://postgres@{self.host}:{self.port}/{database}"

    def create_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(host=self.host, port=self.port, user="postgres",
                             dbname="postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')

    def remove(self) -> None:
        """Stop and delete the data directory."""
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)
