"""The whole system as real processes: broker -> gateway -> cloud -> InfluxDB, plus simulators.

:class:`Stack` wires a running :class:`~tests.support.servers.Mosquitto` and ``influxd`` to a
cloud process (``iotgw cloud run``) and a gateway process (``iotgw gateway run``) holding a real
token from ``iotgw cloud token create``. :class:`Simulation` runs ``iotgw sim run --manifest``
as a process. Fault-injection tests drive the pieces' stop/kill/start methods in between.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iotgw.processes import ChildProcess
from tests.support.processes import (
    CloudProcess,
    GatewayProcess,
    child_env,
    iotgw_command,
)
from tests.support.reconcile import (
    Reconciliation,
    reconcile,
    stored_anomalies,
    stored_readings,
    wait_delivered,
    wait_until,
)
from tests.support.servers import InfluxDB, Mosquitto


@dataclass
class Simulation:
    """One ``iotgw sim run`` process writing a manifest."""

    workdir: Path
    broker_url: str
    options: dict[str, Any]
    name: str = "sim"
    child: ChildProcess | None = None
    manifest: Path = field(init=False)
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.manifest = self.workdir / f"{self.name}-manifest.jsonl"
        self.log_path = self.workdir / f"{self.name}.log"

    def args(self) -> list[str]:
        args = ["sim", "run", "--broker", self.broker_url, "--manifest", str(self.manifest)]
        for key, value in self.options.items():
            args += [f"--{key.replace('_', '-')}", str(value)]
        return args

    def start(self) -> Simulation:
        self.child = ChildProcess(self.name, iotgw_command(*self.args()), self.log_path,
                                  cwd=self.workdir, env=child_env())
        self.child.start()
        return self

    def wait(self, timeout: float = 120.0) -> int:
        assert self.child is not None
        code = self.child.wait(timeout)
        if code != 0:
            raise self.child.fail(f"exited {code}")
        return code

    def run(self, timeout: float = 120.0) -> Simulation:
        self.start()
        self.wait(timeout)
        return self

    @property
    def running(self) -> bool:
        return self.child is not None and self.child.running

    def acknowledged_lines(self) -> int:
        """Lines of the manifest so far (flushed as the simulator runs; every process's file
        with ``--processes``)."""
        from simulators.manifest import manifest_lines

        return manifest_lines(self.manifest)


class Stack:
    """The cloud and the gateway as processes, around a broker and an ``influxd``."""

    def __init__(self, workdir: Path, broker: Mosquitto, influx: InfluxDB, database: str, *,
                 gateway: dict[str, dict[str, Any]] | None = None,
                 cloud_limits: dict[str, Any] | None = None, gateway_id: str = "gw-e2e",
                 fast_retries: bool = True) -> None:
        self.workdir = workdir
        self.broker = broker
        self.influx = influx
        self.database = database
        store = {"kind": "influxdb", "url": influx.url, "database": database,
                 "precision": "ms", "timeout_s": 5.0}
        limits = ({"retry_after_s": 1, "inflight_lease_s": 5.0} if fast_retries else {}) | (
            cloud_limits or {})
        self.cloud = CloudProcess(workdir / "cloud", store, limits)
        self.gateway_id = gateway_id
        self.gateway_overrides = gateway or {}
        self.fast_retries = fast_retries
        self.gateway: GatewayProcess | None = None
        self.sims = 0

    def start(self) -> Stack:
        self.cloud.start()
        token = self.cloud.create_token(self.gateway_id)
        self.gateway = GatewayProcess.for_cloud(
            self.workdir / "gateway", self.broker.url, self.cloud.url, token,
            gateway_id=self.gateway_id, overrides=self.gateway_overrides,
            fast_retries=self.fast_retries,
        )
        self.gateway.start()
        return self

    def stop(self) -> None:
        if self.gateway is not None:
            self.gateway.kill()
        self.cloud.kill()

    @property
    def gw(self) -> GatewayProcess:
        assert self.gateway is not None, "start() the stack first"
        return self.gateway

    def simulation(self, **options: Any) -> Simulation:
        """A simulator process against this stack's broker (not started yet)."""
        self.sims += 1
        defaults: dict[str, Any] = {"qos": 1, "seed": 7}
        return Simulation(self.workdir / "sim", self.broker.url, defaults | options,
                          name=f"sim{self.sims}")

    def delivered(self, manifest: Path, timeout: float = 60.0,
                  exclude_faults: tuple[str, ...] = ()) -> Reconciliation:
        """Wait until InfluxDB holds what the manifest expects, then reconcile."""
        return wait_delivered(manifest, self.influx.url, self.database, timeout, exclude_faults)

    def drained(self, manifest: Path, timeout: float = 60.0) -> Reconciliation:
        """Wait until the gateway's buffer is empty and the store stops growing, then reconcile
        (for runs where some readings are expected to be missing, e.g. counted drops)."""
        last = [-1]

        def settled() -> bool:
            if self.gw.buffered_rows() > 0:
                return False
            n = self.stored()
            done = n == last[0]
            last[0] = n
            return done

        wait_until(settled, timeout, interval=1.0)
        return reconcile(manifest, stored_readings(self.influx.url, self.database))

    def stored(self) -> int:
        return stored_readings(self.influx.url, self.database).total

    def anomalies(self) -> list[dict[str, Any]]:
        return stored_anomalies(self.influx.url, self.database)

    def diagnostics(self) -> str:
        """Logs of every process, for assertion messages."""
        parts = [f"--- cloud:\n{self.cloud.log_tail()}"]
        if self.gateway is not None:
            parts.append(f"--- gateway:\n{self.gateway.log_tail()}")
        parts.append(f"--- at {time.strftime('%H:%M:%S')}")
        return "\n".join(parts)
