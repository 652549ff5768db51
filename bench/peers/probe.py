"""Where a benchmark run's time goes: CPU per process and per gateway thread, idle CPU of the
machine, and the gateway's own counters over time, sampled from ``/proc`` and ``/metrics``.

Used by ``bench/peers/nodered.py --probe``: a :class:`Probe` samples every ``interval`` seconds
in a thread while the run goes on, and :meth:`Probe.report` prints a timeline (what each stage
of the gateway had done by then) and the CPU each process spent per reading stored. Linux only.
Scraping ``/metrics`` costs the gateway ~1.5 ms of CPU, so it is scraped once a second.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from bench.cpu_sampler import box_times

TICK = os.sysconf("SC_CLK_TCK")

#: Gateway counters in the timeline, by column name.
COUNTERS = {
    "received": "iotgw_gateway_messages_received_total",
    "processed": "iotgw_gateway_messages_decoded_total",
    "sent": "iotgw_gateway_uplink_readings_total",
    "batches": "iotgw_gateway_uplink_request_duration_seconds_count",
    "req_s": "iotgw_gateway_uplink_request_duration_seconds_sum",
    "log_backlog": "iotgw_gateway_log_backlog_messages",
    "buffer_rows": "iotgw_gateway_buffer_rows",
}


def _stat(path: str) -> tuple[int, float] | None:
    """(parent pid, CPU seconds) of a ``/proc/.../stat`` file: user + system, and those of
    the children it has waited for (a simulator's worker processes, once they have ended)."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return int(fields[1]), sum(int(v) for v in fields[11:15]) / TICK


def tree_cpu(roots: Mapping[str, int | None]) -> dict[str, float]:
    """CPU seconds of each root process plus its living descendants."""
    procs: dict[int, tuple[int, float]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = _stat(f"/proc/{entry}/stat")
            if st is not None:
                procs[int(entry)] = st
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in procs.items():
        children.setdefault(ppid, []).append(pid)
    out = {}
    for name, root in roots.items():
        total, todo = 0.0, [root] if root else []
        while todo:
            pid = todo.pop()
            total += procs.get(pid, (0, 0.0))[1]
            todo.extend(children.get(pid, []))
        out[name] = total
    return out


def thread_cpu(pid: int) -> dict[int, tuple[float, float]]:
    """(CPU seconds, seconds runnable but waiting for a core) by thread id of ``pid``, from
    each thread's ``schedstat``: a thread neither running nor waiting for a core was asleep
    (on a lock, the GIL, a socket or a timer)."""
    out: dict[int, tuple[float, float]] = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                run_ns, wait_ns = (int(v) for v in f.read().split()[:2])
        except (OSError, ValueError):
            continue
        out[int(tid)] = (run_ns / 1e9, wait_ns / 1e9)
    return out


def thread_names(pid: int) -> dict[int, str]:
    """Python thread names by thread id, through ``py-spy dump`` when it is installed."""
    spy = shutil.which("py-spy") or shutil.which("py-spy", path=os.path.dirname(sys.executable))
    if spy is None:
        return {}
    try:
        text = subprocess.run([spy, "dump", "--pid", str(pid)], capture_output=True,
                              text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    return {int(t): n for t, n in re.findall(r'^Thread (\d+) \(\w+\): "([^"]+)"', text, re.M)}


def box_cpu() -> tuple[float, float]:
    """(busy, idle) CPU seconds of the whole machine since boot."""
    idle, total = box_times()
    return total - idle, idle


@dataclass
class Sample:
    t: float
    box: tuple[float, float]
    procs: dict[str, float]
    threads: dict[int, tuple[float, float]]
    counters: dict[str, float] = field(default_factory=dict)


class Probe:
    """Samples ``roots`` (name -> pid), the gateway's threads and its ``metrics()``."""

    def __init__(self, roots: Callable[[], Mapping[str, int | None]], gateway_pid: Callable[[],
                 int | None], metrics: Callable[[], Mapping[str, float]],
                 interval: float = 0.5) -> None:
        self._roots = roots
        self._gateway_pid = gateway_pid
        self._metrics = metrics
        self.interval = interval
        self.samples: list[Sample] = []
        self.names: dict[int, str] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="probe", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)

    def _run(self) -> None:
        t0, n = time.monotonic(), 0
        while not self._stop.is_set():
            gw = self._gateway_pid()
            if gw and len(self.names) < 4 and n % 4 == 2:  # once its threads exist
                self.names = thread_names(gw)
            procs = tree_cpu(self._roots())
            procs["bench"] = sum(os.times()[:2])  # this script (its poll), not its children
            s = Sample(time.monotonic() - t0, box_cpu(), procs, thread_cpu(gw) if gw else {})
            if n % max(1, round(1.0 / self.interval)) == 0:
                try:
                    m = self._metrics()
                    s.counters = {k: m.get(v, 0.0) for k, v in COUNTERS.items()}
                except Exception:  # a restarting gateway answers nothing
                    pass
            self.samples.append(s)
            n += 1
            self._stop.wait(self.interval)

    def report(self, readings: int) -> None:
        """The timeline, then CPU per process and per gateway thread over the run."""
        if len(self.samples) < 2:
            return
        first, last = self.samples[0], self.samples[-1]
        print(f"\n{'t s':>5} {'idle%':>6} " + " ".join(f"{k:>11}" for k in COUNTERS)
              + "  " + " ".join(f"{k[:9]:>9}" for k in first.procs))
        prev = first
        for s in self.samples[1:]:
            if not s.counters:
                continue
            span = (s.box[0] - prev.box[0]) + (s.box[1] - prev.box[1])
            idle = 100 * (s.box[1] - prev.box[1]) / span if span else 0.0
            dt = s.t - prev.t
            rates = " ".join(f"{(s.procs.get(k, 0) - prev.procs.get(k, 0)) / dt:>9.2f}"
                           for k in first.procs)
            print(f"{s.t:>5.1f} {idle:>6.1f} "
                  + " ".join(f"{s.counters.get(k, 0):>11,.0f}" if k != "req_s"
                             else f"{s.counters.get(k, 0):>11.3f}" for k in COUNTERS)
                  + "  " + rates)
            prev = s
        wall = last.t - first.t
        busy = last.box[0] - first.box[0]
        print(f"\nover {wall:.1f} s: machine busy {busy:.1f} CPU-s of {2 * wall:.1f} "
              f"({os.cpu_count()} cores); per process CPU-s (us per reading stored, "
              f"{readings:,} readings):")
        for k in first.procs:
            spent = last.procs.get(k, 0) - first.procs.get(k, 0)
            print(f"  {k:<12} {spent:7.2f} s  {1e6 * spent / max(readings, 1):7.2f} us")
        print(f"gateway threads over {wall:.1f} s: CPU-s, s waiting for a core (else asleep):")
        for tid, (cpu, waited) in sorted(last.threads.items(), key=lambda kv: -kv[1][0]):
            cpu0, waited0 = first.threads.get(tid, (0.0, 0.0))
            if cpu - cpu0 >= 0.01:
                print(f"  {self.names.get(tid, str(tid)):<14} {cpu - cpu0:7.2f} s "
                      f"{waited - waited0:7.2f} s")
