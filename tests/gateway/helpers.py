"""Shared set-up for gateway integration tests: settings pointing at the test broker and sink.

The gateway as a process is :class:`tests.support.processes.GatewayProcess` (built from
:func:`gateway_config` with ``GatewayProcess(workdir, config)``), the same harness the
end-to-end tests use.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import tomli_w

from gateway.settings import GatewaySettings
from iotgw.processes import ChildProcess, free_port, iotgw_command
from tests.support.processes import ROOT, child_env
from tests.support.servers import Mosquitto

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


def wait_until(predicate: Any, timeout: float = 60.0, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())


def run_sim(broker: Mosquitto, manifest: Path, *args: str) -> ChildProcess:
    """``iotgw sim run`` publishing at QoS 1 with a manifest, as a child process."""
    child = ChildProcess(
        "simulator",
        iotgw_command("sim", "run", "--broker", broker.url, "--qos", "1", "--manifest",
                      str(manifest), "--sensors", "temperature,humidity", *args),
        manifest.with_suffix(".log"), cwd=ROOT, env=child_env(),
    )
    child.start()
    return child


def finish_sim(sim: ChildProcess, manifest: Path, timeout: float = 120.0) -> None:
    """Wait for the simulator; exit 1 (some publishes unacknowledged) is allowed."""
    try:
        code = sim.wait(timeout)
    finally:
        sim.kill()
    assert code in (0, 1), sim.log_tail(40)
