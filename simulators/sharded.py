"""``iotgw sim run --processes N``: one fleet published by N processes (decision 62).

One Python process can use about one core (signals, encoding, paho and the manifest share one
interpreter lock): ~7,500 publishes/s with a free core here, 2-3k on contended ones, so a load
generator for 5,000+ msg/s beside a busy stack has to use more cores. The parent checks the
arguments, prepares the manifest files and starts N children: fresh interpreters (``python
-c``), handed their work pickled on stdin and a pipe to report on, so nothing of a threaded
parent is inherited half-locked and no ``__main__`` is re-run (which ``multiprocessing``'s
spawn would do to an unguarded script). Child ``p`` publishes the devices ``i % N == p``
(:mod:`simulators.fleet`) over its own MQTT connection(s), writes its own manifest part
(:func:`~simulators.manifest.part_path`) and sends its counters to the parent over a pipe a
few times a second. The parent draws the progress line from the sum, prints one summary and
one exit code:

- a child that cannot reach the broker, is refused, or stalls (exit 3) stops the others; the
  parent prints that child's one line and exits 3;
- Ctrl-C or SIGTERM to the parent is forwarded as SIGTERM to every child (children ignore
  SIGINT, so a terminal's Ctrl-C reaches each of them once, through the parent): each one
  stops like a single-process run does, its manifest complete for what it sent; exit 130;
- otherwise 1 when any publish went unacknowledged, else 0.

A child whose parent disappears (kill -9) stops at its next progress report.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pickle
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from typing import Any

from simulators.errors import SimulatorError
from simulators.progress import Outcome, Progress, RunStats, finish

#: What a child runs: publish shard ``index`` and report through the given progress sink.
ChildWork = Callable[[int, Progress], Outcome]

_REPORT_S = 0.25
_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}
_STOP_GRACE_S = 20.0


class PipeProgress(Progress):
    """A child's progress sink: sends its counters to the parent instead of drawing a line."""

    def __init__(self, conn: Connection, parent_pid: int) -> None:
        super().__init__(stream=sys.stderr)
        self.enabled = False
        self._conn = conn
        self._parent_pid = parent_pid
        self._due = 0.0

    def update(self, stats: RunStats, started: float, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now < self._due:
            return
        self._due = now + _REPORT_S
        if os.getppid() != self._parent_pid:
            raise KeyboardInterrupt  # the parent is gone: stop as if interrupted
        try:
            self._conn.send(("progress", dataclasses.astuple(stats)))
        except OSError:
            raise KeyboardInterrupt from None


#: A child's command: put the parent's import path first, then run :func:`child_main`.
_BOOT = ("import pickle, sys; sys.path[:0] = pickle.load(sys.stdin.buffer); "
         "from simulators.sharded import child_main; child_main()")


def child_main() -> None:
    """Entry point of a child: its work and report pipe arrive pickled on stdin."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    index, work, fd, parent_pid = pickle.load(sys.stdin.buffer)
    _child(index, work, Connection(fd, readable=False), parent_pid)


def _child(index: int, work: ChildWork, conn: Connection, parent_pid: int) -> None:
    """Body of child ``index``: SIGINT ignored (the parent forwards it), SIGTERM interrupts."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    report: tuple[Any, ...]
    try:
        try:
            # A stop that came while starting fires here, inside the handling below.
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
            out = work(index, PipeProgress(conn, parent_pid))
            report = ("done", dataclasses.astuple(out.stats), out.stalled, out.interrupted)
        finally:  # from here on a stop request must not cut the final report short
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
    except SimulatorError as exc:
        report = ("error", str(exc), exc.exit_code)
    except KeyboardInterrupt:
        report = ("error", None, 130)  # stopped before it could publish anything
    with contextlib.suppress(OSError):
        conn.send(report)
    conn.close()


@dataclasses.dataclass
class _Child:
    index: int
    proc: subprocess.Popen[bytes]
    conn: Connection
    stats: RunStats = dataclasses.field(default_factory=RunStats)
    final: tuple[Any, ...] | None = None


class ShardedRun:
    """The parent: start the children, aggregate their reports, stop them together."""

    def __init__(self, work: ChildWork, processes: int, ack_timeout: float) -> None:
        self.work = work
        self.processes = processes
        self.ack_timeout = ack_timeout
        self.children: list[_Child] = []
        self.signals = 0
        self._stop_sent = 0
        self._kill_at: float | None = None
        self._started = 0.0

    def run(self, manifest: str | None) -> int:
        """Run every child to its end; print the summary; return the exit code."""
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        progress = Progress()
        try:
            self._start()
            while any(c.final is None for c in self.children):
                self._poll(progress)
        finally:
            for c in self.children:
                _reap(c.proc)
            for s, handler in previous.items():
                signal.signal(s, handler)
        progress.update(self._total(), self._started, force=True)
        progress.close()
        return self._finish(manifest)

    def _on_signal(self, signum: int, frame: object) -> None:
        self.signals += 1

    def _start(self) -> None:
        self._started = time.monotonic()
        # Blocked while starting (children inherit the mask and unblock once their handlers
        # are set), so a stop request is never lost between a child's start and its set-up.
        signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
        try:
            for index in range(self.processes):
                self.children.append(self._spawn(index))
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)

    def _spawn(self, index: int) -> _Child:
        r, w = os.pipe()
        proc = subprocess.Popen([sys.executable, "-c", _BOOT], stdin=subprocess.PIPE,
                                pass_fds=(w,))
        os.close(w)
        assert proc.stdin is not None
        with proc.stdin:
            pickle.dump(sys.path, proc.stdin)
            pickle.dump((index, self.work, w, os.getpid()), proc.stdin)
        return _Child(index, proc, Connection(r, writable=False))

    def _poll(self, progress: Progress) -> None:
        live = {c.conn: c for c in self.children if c.final is None}
        for conn in wait(list(live), timeout=0.1):
            child = live[conn]  # type: ignore[index]
            try:
                report = child.conn.recv()
            except (EOFError, OSError):
                report = ("error", f"publishing process {child.index} ended without a report "
                          f"(exit code {_reap(child.proc)})", 1)
            if report[0] == "progress":
                child.stats = RunStats(*report[1])
                continue
            child.final = report
            if report[0] == "done":
                child.stats = RunStats(*report[1])
            if self._fatal(report):
                self._stop(signal.SIGTERM)
        if self.signals > self._stop_sent:
            self._stop(signal.SIGTERM if self._stop_sent == 0 else signal.SIGKILL)
            self._stop_sent = self.signals
        if self._kill_at is not None and time.monotonic() > self._kill_at:
            self._stop(signal.SIGKILL)
        progress.update(self._total(), self._started)

    @staticmethod
    def _fatal(report: tuple[Any, ...]) -> bool:
        return (report[0] == "error" and report[2] == 3) or (
            report[0] == "done" and report[2] is not None)

    def _stop(self, sig: int) -> None:
        """Send ``sig`` to every child still running; kill them all if they take too long."""
        if self._kill_at is None:
            self._kill_at = time.monotonic() + min(self.ack_timeout, 5.0) + _STOP_GRACE_S
        for c in self.children:
            if c.final is None and c.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    c.proc.send_signal(sig)
        if sig == signal.SIGKILL:
            for c in self.children:
                if c.final is None:
                    _reap(c.proc)
                    c.final = ("error", None, 130)

    def _total(self) -> RunStats:
        total = RunStats()
        for field in dataclasses.fields(RunStats):
            values = [getattr(c.stats, field.name) for c in self.children]
            agg = max(values, default=0.0) if field.name == "elapsed_s" else sum(values)
            setattr(total, field.name, agg)
        return total

    def _finish(self, manifest: str | None) -> int:
        finals = [c.final for c in self.children if c.final is not None]
        errors = [f for f in finals if f[0] == "error"]
        broker = next((f for f in errors if f[2] == 3), None)
        if broker is not None:  # the broker cannot be used: one line, as a single process says
            print(f"iotgw sim: {broker[1]}", file=sys.stderr)
            return 3
        done = [f for f in finals if f[0] == "done"]
        stalled = next((f[2] for f in done if f[2] is not None), None)
        interrupted = self.signals > 0 or any(f[3] for f in done) or any(
            f[2] == 130 for f in errors)
        for f in errors:
            if f[1] is not None and f[2] != 130:
                print(f"iotgw sim: {f[1]}", file=sys.stderr)
        code = finish(self._total(), stalled, interrupted, _describe(manifest, self.processes))
        worst = max((f[2] for f in errors if f[2] != 130), default=0)
        return code if code else worst


def _reap(proc: subprocess.Popen[bytes]) -> int | None:
    """Wait for a child that has reported or been stopped (killed after 15 s); its exit code."""
    with contextlib.suppress(subprocess.TimeoutExpired):
        return proc.wait(15.0)
    proc.kill()
    return proc.wait()


def _describe(manifest: str | None, processes: int) -> str | None:
    if manifest is None:
        return None
    from simulators.manifest import part_path

    last = part_path(manifest, processes - 1)
    return f"{manifest} (one file per process: {part_path(manifest, 0)} .. {last})"
