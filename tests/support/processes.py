"""Our own programs as real OS processes: the cloud, the gateway and the simulator.

Each runs ``python -m iotgw.cli ...`` (the ``iotgw`` command) from this checkout, with its
own config file, log file and free loopback ports, and can be stopped (SIGTERM), killed
(SIGKILL, as a crash or power cut would) and started again on the same ports and data directory.
End-to-end tests, fault injection and ``bench/e2e.py`` build on these; nothing is mocked.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from iotgw.processes import LOOPBACK, ChildProcess, free_port, http_ok, iotgw_command
from tests.support.metrics import sample_totals

ROOT = Path(__file__).resolve().parent.parent.parent


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for our processes: this checkout first, no stray IOTGW_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IOTGW_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def toml_text(data: dict[str, Any]) -> str:
    """A minimal TOML writer for our config files (tables of scalars, lists of tables)."""
    import tomli_w

    return tomli_w.dumps(data)


def run_iotgw(args: Sequence[str], *, timeout: float = 60.0, cwd: Path | None = None,
              env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run one ``iotgw`` command to completion; raise with its output when it fails."""
    proc = subprocess.run(
        iotgw_command(*args), capture_output=True, text=True, timeout=timeout,
        cwd=cwd or ROOT, env=child_env(env), stdin=subprocess.DEVNULL, check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"iotgw {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


class IotgwProcess(ChildProcess):
    """A long-running ``iotgw`` command with start/stop/kill/restart and an HTTP readiness URL.

    Spawning, stopping, killing and log capture are :class:`iotgw.processes.ChildProcess`'s.
    """

    name = "iotgw"
    log_banner = True

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        super().__init__(self.name, None, workdir / f"{self.name}.log", cwd=workdir)

    def args(self) -> list[str]:
        raise NotImplementedError

    def command(self) -> list[str]:
        return iotgw_command(*self.args())

    def environment(self) -> dict[str, str]:
        return child_env(self.extra_env())

    def extra_env(self) -> dict[str, str]:
        return {}

    @property
    def ready_url(self) -> str | None:
        return None

    def start(self, wait: bool = True, timeout: float = 60.0) -> None:
        if self.running:
            return
        super().start()
        if wait:
            try:
                self.wait_ready(timeout)
            except Exception:
                self.kill()
                raise

    def wait_ready(self, timeout: float = 60.0) -> None:
        url = self.ready_url
        if url is not None:
            self.wait_http(url, timeout)

    def stop(self, timeout: float = 30.0, sig: int = signal.SIGTERM) -> int | None:
        """SIGTERM and wait (the graceful path); SIGKILL if it hangs. Returns the exit code."""
        return super().stop(timeout, sig)

    def ready(self) -> bool:
        """Whether the readiness URL answers 2xx right now."""
        return self.ready_url is not None and http_ok(self.ready_url)


class CloudProcess(IotgwProcess):
    """``iotgw cloud run --config cloud.toml`` (uvicorn) on a free loopback port."""

    name = "cloud"

    def __init__(self, workdir: Path, store: dict[str, Any], limits: dict[str, Any] | None = None,
                 port: int | None = None, workers: int = 1) -> None:
        super().__init__(workdir)
        self.port = port or free_port()
        self.config_path = workdir / "cloud.toml"
        self.config: dict[str, Any] = {
            "data_dir": str(workdir / "data"),
            "server": {"host": LOOPBACK, "port": self.port, "workers": workers,
                       "log_level": "warning"},
            "store": store,
            "limits": limits or {},
        }
        self.write_config()

    def write_config(self) -> None:
        self.config_path.write_text(toml_text(self.config))

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def ready_url(self) -> str:
        return f"{self.url}/readyz"

    def host_port(self) -> tuple[str, int]:
        """Where it listens, as a balancer's backend entry."""
        return LOOPBACK, self.port

    def args(self) -> list[str]:
        return ["cloud", "run", "--config", str(self.config_path)]

    def pending_ingests(self) -> int:
        """Ingest requests the cloud has claimed (idempotency record taken) but not answered.

        Read from the metadata database (SQLite in ``data_dir``), read-only: a fault test uses
        it to kill the cloud exactly while a batch is in flight.
        """
        import sqlite3

        path = Path(self.config["data_dir"]) / "meta.sqlite3"
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1.0)
        try:
            row = con.execute(
                "SELECT count(*) FROM idempotency_records WHERE state = 'pending'"
            ).fetchone()
        finally:
            con.close()
        return int(row[0])

    def create_token(self, gateway_id: str | None = None, scopes: Sequence[str] = ()) -> str:
        """``iotgw cloud token create [--gateway ID] [--scope S ...]``: the token is the last
        line it prints (``create_token("gw")``: the gateway's ingest token; ``scopes=["read"]``
        for the read routes)."""
        args = ["--gateway", gateway_id] if gateway_id else []
        for scope in scopes:
            args += ["--scope", scope]
        out = run_iotgw(
            ["cloud", "token", "create", "--config", str(self.config_path), *args],
            cwd=self.workdir,
        ).stdout
        return out.strip().splitlines()[-1].strip()


class GatewayProcess(IotgwProcess):
    """``iotgw gateway run --config gateway.toml`` with short retry settings for tests."""

    name = "gateway"

    #: Retry and breaker timings short enough for tests (outage lengths stay realistic).
    FAST_RETRIES: dict[str, dict[str, Any]] = {  # noqa: RUF012 - read-only table
        "mqtt": {"reconnect_min_s": 0.2, "reconnect_max_s": 2.0},
        "uplink": {"retry_min_s": 0.2, "retry_max_s": 2.0, "retry_after_max_s": 2.0,
                   "breaker_reset_s": 1.0, "timeout_s": 5.0},
    }

    def __init__(self, workdir: Path, config: dict[str, Any],
                 partition: str | None = None, config_path: Path | None = None) -> None:
        """A gateway running exactly ``config`` (its ``health.port`` must be set); with
        ``partition``, one ``[[partition]]`` of it (whose ``health_port`` must be set)."""
        super().__init__(workdir)
        self.config = config
        self.partition = partition
        self.health_port = int(config["health"]["port"])
        if partition is not None:
            self.name = f"gateway-{partition}"
            self.log_path = workdir / f"{self.name}.log"
            part = next(p for p in config["partition"] if p["name"] == partition)
            self.health_port = int(part["health_port"])
        self.config_path = config_path or workdir / "gateway.toml"
        self.config_path.write_text(toml_text(self.config))

    @classmethod
    def for_cloud(cls, workdir: Path, broker_url: str, cloud_url: str, token: str,
                  gateway_id: str = "gw-e2e", overrides: dict[str, dict[str, Any]] | None = None,
                  fast_retries: bool = True) -> GatewayProcess:
        """A gateway between ``broker_url`` and ``cloud_url`` with test-speed retries."""
        config: dict[str, dict[str, Any]] = {
            "gateway": {"id": gateway_id, "data_dir": str(workdir / "data")},
            "mqtt": {"url": broker_url},
            "uplink": {"url": cloud_url, "token": token},
            "health": {"host": LOOPBACK, "port": free_port()},
            "log": {"level": "INFO"},
        }
        for section, values in (cls.FAST_RETRIES if fast_retries else {}).items():
            config[section].update(values)
        for section, values in (overrides or {}).items():
            config.setdefault(section, {}).update(values)
        return cls(workdir, config)

    @property
    def health_url(self) -> str:
        return f"http://{LOOPBACK}:{self.health_port}"

    @property
    def ready_url(self) -> str:
        return f"{self.health_url}/readyz"

    def args(self) -> list[str]:
        part = [] if self.partition is None else ["--partition", self.partition]
        return ["gateway", "run", "--config", str(self.config_path), *part]

    def metrics(self) -> dict[str, float]:
        """The gateway's /metrics, summed over labels: ``{"name": value}``."""
        return sample_totals(httpx.get(f"{self.health_url}/metrics", timeout=5).text)

    def metric(self, name: str) -> float:
        """One metric of /metrics summed over its labels, or one labelled series when ``name``
        has labels (``'x_total{reason="a"}'``); 0 when absent."""
        values = self.metrics_by_label() if "{" in name else self.metrics()
        return values.get(name, 0.0)

    def received(self) -> float:
        return self.metric("iotgw_gateway_messages_received_total")

    def dead_lettered(self) -> float:
        return self.metric("iotgw_gateway_dead_letters_total")

    def anomalies_emitted(self) -> float:
        return self.metric("iotgw_gateway_anomalies_total")

    def dropped_readings(self) -> float:
        return self.metric("iotgw_gateway_dropped_readings_total")

    def uplink_attempts(self) -> float:
        return self.metric("iotgw_gateway_uplink_batches_total")

    def buffered_rows(self) -> float:
        return self.metric("iotgw_gateway_buffer_rows")

    def metrics_by_label(self) -> dict[str, float]:
        """The gateway's /metrics with labels kept: ``{'name{label="x"}': value}``."""
        return sample_totals(
            httpx.get(f"{self.health_url}/metrics", timeout=5).text, keep_labels=True
        )
