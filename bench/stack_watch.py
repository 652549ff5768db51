"""What ``bench/e2e.py`` watches while the simulator publishes: the CPU of every process of the
stack (:func:`stack_sampler`) and where the backlog sits (:class:`BacklogWatch`)."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from bench.cpu_sampler import CpuSampler
from tests.support.stack import Simulation, Stack


def stack_sampler(stack: Stack, sim: Simulation) -> CpuSampler:
    """Per-process CPU of every part of the stack, and the gateway's threads."""
    def pids(*procs: object) -> Callable[[], list[int]]:
        return lambda: [p for p in (getattr(x, "pid", None) for x in procs) if p]

    groups = {"simulator": lambda: [p for p in [sim.child and sim.child.pid] if p],
              "mosquitto": pids(stack.broker), "gateway": pids(stack.gw),
              "cloud": pids(stack.cloud), "influxd": pids(stack.influx),
              "bench": lambda: [os.getpid()]}
    return CpuSampler(groups, threads_of=stack.gw.pid, no_tree=("bench",))


class BacklogWatch:
    """Where messages wait while the simulator publishes: the broker (published, not yet
    received by the gateway), the intake log (received, not processed), the buffer (rows not
    yet sent). Read from the gateway's /metrics every ``every_s`` (a scrape costs it ~1.5 ms)."""

    def __init__(self, stack: Stack, sim: Simulation, every_s: float = 5.0) -> None:
        self._stack, self._sim, self._every = stack, sim, every_s
        self._stop = threading.Event()
        self.samples: list[tuple[float, int, int, int]] = []
        self._read: dict[Path, tuple[int, int]] = {}  # manifest part -> (bytes read, lines)

    def _published(self) -> int:
        """Manifest lines so far, reading only what was appended since the last call (the
        whole files are ~50 MB a minute at 5,000 msg/s)."""
        from simulators.manifest import manifest_files

        for f in manifest_files(self._sim.manifest):
            offset, lines = self._read.get(f, (0, 0))
            with contextlib.suppress(FileNotFoundError), f.open("rb") as handle:
                handle.seek(offset)
                data = handle.read()
                self._read[f] = (offset + len(data), lines + data.count(b"\n"))
        return sum(lines for _o, lines in self._read.values())

    def start(self) -> None:
        self._t0 = time.monotonic()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            m = self._stack.gw.metrics()
            got = int(m.get("iotgw_gateway_messages_received_total", 0))
            broker = self._published() - got
            self.samples.append((time.monotonic() - self._t0, max(0, broker),
                                 int(m.get("iotgw_gateway_log_backlog_messages", 0)),
                                 int(m.get("iotgw_gateway_buffer_rows", 0))))

    def summary(self) -> str:
        return "; ".join(f"{t:.0f}s broker {b:,} log {lg:,} buffer {r:,}"
                         for t, b, lg, r in self.samples)
