"""Shared set-up for gateway integration tests: settings pointing at the test broker and sink."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import tomli_w

from gateway.settings import GatewaySettings
from tests.support.metrics import sample_totals
from tests.support.servers import Mosquitto, free_port

SENSORS_PER_MESSAGE = 2


def gateway_config(tmp: Path, broker: Mosquitto, cloud_url: str, token: str,
                   **sections: dict[str, Any]) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "gateway": {"id": "gw-test", "data_dir": str(tmp / "gw-data")},
        "mqtt": {"url": broker.url, "client_id": "gw-test", "reconnect_min_s": 0.1,
                 "reconnect_max_s": 1.0, "keepalive_s": 5},
        "uplink": {"url": cloud_url, "token": token, "linger_ms": 20, "timeout_s": 2,
                   "retry_min_s": 0.05, "retry_max_s": 0.5, "breaker_failures": 3,
                   "breaker_reset_s": 0.5, "max_batch_rows": 200},
        "health": {"port": free_port()},
        "detect": {"enabled": False},
    }
    for name, values in sections.items():
        cfg.setdefault(name, {}).update(values)
    return cfg


def write_config(tmp: Path, cfg: dict[str, Any]) -> Path:
    path = tmp / "gateway.toml"
    path.write_bytes(tomli_w.dumps(cfg).encode())
    return path


def settings_from(cfg: dict[str, Any], tmp: Path) -> GatewaySettings:
    return GatewaySettings.load(write_config(tmp, cfg), env={})


def start_gateway_process(config: Path, log: Path) -> subprocess.Popen[bytes]:
    """``iotgw gateway run --config FILE`` as a real child process."""
    out = log.open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulators.iotgw", "gateway", "run", "--config", str(config)],
        stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        cwd=Path(__file__).resolve().parents[2],
    )
    out.close()
    return proc


def wait_until(predicate: Any, timeout: float = 60.0, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())


class GatewayProcess:
    """``iotgw gateway run`` as a child process, with its health port for readiness and metrics."""

    def __init__(self, config: Path, health_port: int, log: Path) -> None:
        self.config = config
        self.health_port = health_port
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, ready_timeout: float = 30.0) -> None:
        self.proc = start_gateway_process(self.config, self.log)
        if not wait_until(lambda: self.ready() or self.proc.poll() is not None,  # type: ignore[union-attr]
                          ready_timeout, 0.1):
            raise RuntimeError(f"gateway not ready: {self.log.read_text()[-2000:]}")
        if self.proc.poll() is not None:
            raise RuntimeError(f"gateway exited: {self.log.read_text()[-2000:]}")

    def ready(self) -> bool:
        return self._get("/readyz")[0] == 200

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()

    def terminate(self, timeout: float = 30.0) -> int:
        assert self.proc is not None
        self.proc.terminate()
        return self.proc.wait(timeout)

    def metrics(self) -> dict[str, float]:
        status, text = self._get("/metrics")
        return sample_totals(text, keep_labels=True) if status == 200 else {}

    def metric(self, name: str) -> float:
        return self.metrics().get(name, 0.0)

    def _get(self, path: str) -> tuple[int, str]:
        import urllib.error
        import urllib.request

        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.health_port}{path}",
                                        timeout=2) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, ""
        except OSError:
            return 0, ""


def run_sim(broker: Mosquitto, manifest: Path, *args: str) -> subprocess.Popen[bytes]:
    """``iotgw sim run`` (issue C) publishing at QoS 1 with a manifest, as a child process."""
    cmd = [sys.executable, "-m", "simulators.iotgw", "sim", "run", "--broker", broker.url,
           "--qos", "1", "--manifest", str(manifest), "--sensors", "temperature,humidity",
           *args]
    with manifest.with_suffix(".log").open("wb") as log:
        return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, cwd=Path(__file__).resolve().parents[2])


def finish_sim(proc: subprocess.Popen[bytes], manifest: Path, timeout: float = 120.0) -> None:
    """Wait for the simulator; exit 1 (some publishes unacknowledged) is allowed."""
    try:
        code = proc.wait(timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    log = manifest.with_suffix(".log").read_text(errors="replace")
    assert code in (0, 1), log[-2000:]
