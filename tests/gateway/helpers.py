"""Shared set-up for gateway integration tests: settings pointing at the test broker and sink."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import tomli_w

from gateway.settings import GatewaySettings
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
