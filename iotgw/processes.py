"""Child processes: spawn with a log file, wait until ready, stop within a deadline, kill.

The one helper behind every child process we start: the demo's cloud, gateway and simulator,
the test harnesses' servers (Mosquitto, influxd, PostgreSQL) and our own programs, and the
benchmarks. A child runs in its own session (process group), with stdout and stderr appended
to its log file; a failure to become ready raises :class:`ChildFailed` quoting the log's tail.

>>> import sys, tempfile
>>> log = Path(tempfile.mkdtemp()) / "echo.log"
>>> child = ChildProcess("echo", [sys.executable, "-c", "print('hello')"], log)
>>> child.start()
>>> child.wait(30), log.read_text()
(0, 'hello\\n')
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

LOOPBACK = "127.0.0.1"


class ChildFailed(RuntimeError):
    """A child process exited early or never became ready; the message quotes its log."""


def iotgw_command(*args: str) -> list[str]:
    """The command line that runs ``iotgw ARGS`` with this interpreter and installation."""
    return [sys.executable, "-m", "iotgw.cli", *args]


def free_port() -> int:
    """A TCP port nobody listens on at this moment, on loopback."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def log_tail(path: Path, lines: int = 20, indent: str = "    ") -> str:
    """The last ``lines`` lines of a log file, indented, or ``(no log)``."""
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(indent + line for line in text[-lines:])


def http_ok(url: str, timeout: float = 2.0) -> bool:
    """Whether ``url`` answers a GET with a 2xx status right now."""
    with (
        contextlib.suppress(OSError, urllib.error.URLError),
        urllib.request.urlopen(url, timeout=timeout) as resp,
    ):
        return 200 <= int(resp.status) < 300
    return False


def port_open(port: int, host: str = LOOPBACK) -> bool:
    """Whether something accepts TCP connections on ``host:port`` right now."""
    try:
        socket.create_connection((host, port), 0.2).close()
    except OSError:
        return False
    return True


class ChildProcess:
    """One named child with its output appended to ``log_path``.

    ``start()`` spawns it; ``wait_for``/``wait_http``/``wait_port`` wait until it is ready and
    fail early when it exits; ``stop()`` sends SIGTERM (or ``sig``) and kills after a deadline;
    ``kill()`` sends SIGKILL to its whole process group, as a crash or power cut would.
    Subclasses override :meth:`command` (and :meth:`start` to add a readiness wait).
    """

    #: Write a ``===== start #N`` line to the log before each start (harnesses that restart).
    log_banner = False

    def __init__(self, name: str, argv: Sequence[str] | None, log_path: Path, *,
                 cwd: Path | None = None, env: Mapping[str, str] | None = None,
                 popen_kwargs: Mapping[str, Any] | None = None) -> None:
        self.name = name
        self.argv = list(argv or [])
        self.log_path = log_path
        self.cwd = cwd
        self.env = env
        self.popen_kwargs = dict(popen_kwargs or {})
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def command(self) -> list[str]:
        """The command line of the next start."""
        return self.argv

    def environment(self) -> Mapping[str, str] | None:
        """The child's whole environment (``None``: this process's)."""
        return self.env

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.running and self.proc else None

    @property
    def exit_code(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def start(self) -> None:
        """Spawn the child (no readiness wait); a running child is left alone."""
        if self.running:
            return
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            if self.log_banner:
                log.write(f"\n===== start #{self.starts + 1} at {time.time():.3f}\n".encode())
                log.flush()
            env = self.environment()
            self.proc = subprocess.Popen(
                self.command(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=self.cwd, env=None if env is None else dict(env), start_new_session=True,
                **self.popen_kwargs,
            )
        self.starts += 1

    def fail(self, what: str) -> ChildFailed:
        return ChildFailed(f"{self.name} {what}; its log ({self.log_path}) ends:\n"
                           f"{log_tail(self.log_path)}")

    def wait_for(self, ready: Callable[[], bool], timeout: float, what: str,
                 step: float = 0.1) -> None:
        """Wait until ``ready()``; raise :class:`ChildFailed` if the child exits or time runs
        out (``what`` completes "NAME did not ...")."""
        deadline = time.monotonic() + timeout
        while True:
            code = self.exit_code
            if self.proc is None or code is not None:
                raise self.fail(f"exited with code {code}")
            if ready():
                return
            if time.monotonic() >= deadline:
                raise self.fail(f"did not {what} within {timeout:g}s")
            time.sleep(step)

    def wait_http(self, url: str, timeout: float = 60.0) -> None:
        """Wait until ``url`` answers 2xx."""
        self.wait_for(lambda: http_ok(url), timeout, f"answer {url}", step=0.2)

    def wait_port(self, port: int, timeout: float = 15.0, host: str = LOOPBACK) -> None:
        """Wait until ``host:port`` accepts connections."""
        self.wait_for(lambda: port_open(port, host), timeout, f"listen on {host}:{port}", 0.05)

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the child to exit by itself; its exit code (0 if never started)."""
        if self.proc is None:
            return 0
        return self.proc.wait(timeout)

    def send_signal(self, sig: int) -> None:
        if self.running and self.proc is not None:
            self.proc.send_signal(sig)

    def stop(self, timeout: float = 20.0, sig: int = signal.SIGTERM) -> int | None:
        """Ask the child to stop (``sig``), kill it after ``timeout``; its exit code."""
        if self.proc is None:
            return None
        code = self.proc.poll()
        if code is None:
            self.proc.send_signal(sig)
            try:
                code = self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._kill_group()
                code = self.proc.wait()
        self.proc = None
        return code

    def kill(self) -> None:
        """SIGKILL to the child's process group: no shutdown code runs, as in a crash."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self._kill_group()
            self.proc.wait()
        self.proc = None

    def _kill_group(self) -> None:
        assert self.proc is not None
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_tail(self, lines: int = 40) -> str:
        return log_tail(self.log_path, lines, indent="")
