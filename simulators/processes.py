"""Child processes for the demo: start with a log file, wait until ready, stop within a deadline."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path


class ChildFailed(RuntimeError):
    """A child process exited early or never became ready; the message quotes its log."""


def iotgw_command(*args: str) -> list[str]:
    """The command line that runs ``iotgw ARGS`` with this interpreter and installation."""
    return [sys.executable, "-m", "simulators.iotgw", *args]


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join("    " + line for line in text[-lines:])


class ChildProcess:
    """One named child with its output in ``log_path``; ``stop()`` sends SIGTERM, then kills."""

    def __init__(self, name: str, argv: list[str], log_path: Path,
                 env: dict[str, str] | None = None) -> None:
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env={**os.environ, **(self.env or {})}, start_new_session=True,
            )

    @property
    def exit_code(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def fail(self, what: str) -> ChildFailed:
        return ChildFailed(f"{self.name} {what}; its log ({self.log_path}) ends:\n"
                           f"{log_tail(self.log_path)}")

    def wait_http(self, url: str, timeout: float = 60.0) -> None:
        """Wait until ``url`` answers 2xx; fail early if the process exits."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.exit_code is not None:
                raise self.fail(f"exited with code {self.exit_code}")
            with (
                contextlib.suppress(OSError, urllib.error.URLError),
                urllib.request.urlopen(url, timeout=2) as resp,
            ):
                if 200 <= resp.status < 300:
                    return
            time.sleep(0.2)
        raise self.fail(f"did not answer {url} within {timeout:.0f}s")

    def wait(self, timeout: float | None = None) -> int:
        if self.proc is None:
            return 0
        return self.proc.wait(timeout)

    def stop(self, timeout: float = 20.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
