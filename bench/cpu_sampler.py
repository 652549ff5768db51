"""Where the CPU of a benchmark goes: per process, per thread of one process, and the box's idle.

A :class:`CpuSampler` reads ``/proc/<pid>/stat`` (user + system time) of every process of named
groups once a second on a thread of its own, with their descendants (a simulator's children
appear after it starts), the per-thread times of one process (``/proc/<pid>/task/*/stat``), the
machine's idle and total time (``/proc/stat``) and the load average. :meth:`report` turns them
into cores used per group over the window, microseconds of CPU per message, the box's idle share
and what the rest of the machine (processes outside the groups) used meanwhile: on a shared
machine the rates move with the neighbours, the CPU per message does not.

Linux only (``/proc``); a process that is gone keeps the time last read from it.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psutil

_TICK = os.sysconf("SC_CLK_TCK")


def proc_cpu_s(path: str) -> float | None:
    """User + system CPU seconds of ``/proc/<pid>/stat`` or ``.../task/<tid>/stat``."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError:
        return None
    fields = raw[raw.rindex(b")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def run_wait_s(path: str) -> float | None:
    """Seconds a thread spent runnable but waiting for a core (``/proc/.../schedstat``, second
    field): CPU starvation, as opposed to sleeping on a lock, the disk or the network."""
    try:
        with open(path, "rb") as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return None


def box_times() -> tuple[float, float]:
    """(idle + iowait, total) CPU seconds of the whole machine, all cores summed."""
    with open("/proc/stat", "rb") as f:
        parts = [int(x) for x in f.readline().split()[1:9]]
    return (parts[3] + parts[4]) / _TICK, sum(parts) / _TICK


def session_times() -> dict[int, tuple[int, float]]:
    """pid -> (session id, user + system CPU seconds) of every process on the machine."""
    out: dict[int, tuple[int, float]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                raw = f.read()
        except OSError:
            continue
        fields = raw[raw.rindex(b")") + 2:].split()
        out[int(name)] = (int(fields[3]), (int(fields[11]) + int(fields[12])) / _TICK)
    return out


def _tree(pid: int) -> list[int]:
    try:
        p = psutil.Process(pid)
        return [pid, *(c.pid for c in p.children(recursive=True))]
    except psutil.Error:
        return [pid]


@dataclass
class _Group:
    roots: Callable[[], list[int]]
    tree: bool = True  # with descendants
    first: dict[int, float] = field(default_factory=dict)  # pid -> CPU s when first seen
    last: dict[int, float] = field(default_factory=dict)  # pid -> CPU s last read

    def sample(self, at_start: bool) -> None:
        for root in self.roots():
            for pid in _tree(root) if self.tree else [root]:
                cpu = proc_cpu_s(f"/proc/{pid}/stat")
                if cpu is None:
                    continue
                # A process born during the window counts from its start.
                self.first.setdefault(pid, cpu if at_start else 0.0)
                self.last[pid] = cpu

    @property
    def used_s(self) -> float:
        return sum(self.last[p] - self.first[p] for p in self.last)


class CpuSampler:
    """Samples the CPU of process groups, one process's threads and the box, every ``every_s``."""

    def __init__(self, groups: dict[str, Callable[[], list[int]]], threads_of: int | None = None,
                 every_s: float = 1.0, no_tree: tuple[str, ...] = ()) -> None:
        """``groups``: name -> the pids whose process trees make up the group (``no_tree``:
        groups counted without descendants); ``threads_of``: the pid whose threads to sample."""
        self._groups = {name: _Group(roots, name not in no_tree) for name, roots in groups.items()}
        self._threads_of = threads_of
        self._every = every_s
        self._threads_first: dict[str, tuple[float, float]] = {}  # tid -> (CPU s, run-wait s)
        self._threads_last: dict[str, tuple[float, float]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.loadavg: list[float] = []

    def start(self) -> None:
        self._t0 = time.monotonic()
        self._box0 = box_times()
        self._sessions0 = session_times()
        self._sample(at_start=True)
        self._thread = threading.Thread(target=self._run, name="cpu-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._sample(at_start=False)
        self._t1 = time.monotonic()
        self._box1 = box_times()
        self._sessions1 = session_times()

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            self._sample(at_start=False)

    def _sample(self, at_start: bool) -> None:
        for g in self._groups.values():
            g.sample(at_start)
        self.loadavg.append(os.getloadavg()[0])
        if self._threads_of is None:
            return
        base = f"/proc/{self._threads_of}/task"
        try:
            tids = os.listdir(base)
        except OSError:
            return
        for tid in tids:
            cpu = proc_cpu_s(f"{base}/{tid}/stat")
            wait = run_wait_s(f"{base}/{tid}/schedstat")
            if cpu is not None and wait is not None:
                self._threads_first.setdefault(tid, (cpu, wait) if at_start else (0.0, 0.0))
                self._threads_last[tid] = (cpu, wait)

    def thread_cores(self) -> list[tuple[str, float, float]]:
        """(thread id, share of the window on a core, share of it runnable but waiting for a
        core) of the sampled process's threads, busiest first. A thread that neither ran nor
        waited for a core much of the time was blocked: on the interpreter lock, a sleep, the
        disk or the network."""
        wall = self._t1 - self._t0
        used = []
        for t, (cpu, wait) in self._threads_last.items():
            cpu0, wait0 = self._threads_first[t]
            used.append((t, (cpu - cpu0) / wall, (wait - wait0) / wall))
        return sorted(used, key=lambda x: -x[1])

    def sessions(self) -> list[tuple[float, str]]:
        """(cores, whose) of every session (the kernel's scheduling group here) that used at
        least 0.05 of a core over the window, busiest first; ``whose`` names the stack's groups
        and is empty for other users' sessions (processes that ended inside the window are
        not counted)."""
        wall = self._t1 - self._t0
        used: dict[int, float] = {}
        for pid, (sid, cpu) in self._sessions1.items():
            before = self._sessions0.get(pid)
            start = before[1] if before is not None and before[0] == sid else 0.0
            used[sid] = used.get(sid, 0.0) + cpu - start
        ours: dict[int, str] = {}
        for name, g in self._groups.items():
            for pid in g.last:
                entry = self._sessions1.get(pid)
                if entry is not None:
                    ours.setdefault(entry[0], name)
        busy = [(c / wall, ours.get(sid, "")) for sid, c in used.items() if c / wall >= 0.05]
        return sorted(busy, reverse=True)

    def report(self, messages: int) -> list[str]:
        """Lines: per group cores and us/message; the box's idle and the rest of the machine."""
        wall = self._t1 - self._t0
        idle0, total0 = self._box0
        idle1, total1 = self._box1
        box_total = total1 - total0
        box_busy = box_total - (idle1 - idle0)
        cores = box_total / wall
        ours = sum(g.used_s for g in self._groups.values())
        per = max(messages, 1)
        lines = [f"CPU over {wall:.1f} s ({cores:.0f} cores; load average "
                 f"{min(self.loadavg):.1f}-{max(self.loadavg):.1f}):"]
        for name, g in self._groups.items():
            lines.append(f"  {name:<12} {g.used_s / wall:5.2f} cores  "
                         f"{g.used_s / per * 1e6:7.1f} us/msg")
        lines.append(f"  {'stack total':<12} {ours / wall:5.2f} cores  "
                     f"{ours / per * 1e6:7.1f} us/msg")
        lines.append(f"  {'rest of box':<12} {max(0.0, box_busy - ours) / wall:5.2f} cores "
                     "(other users' processes)")
        lines.append(f"  {'idle':<12} {(box_total - box_busy) / wall:5.2f} cores "
                     f"({(box_total - box_busy) / box_total:.0%} of the box)")
        return lines
