"""Run statistics, the live progress line (stderr, terminals only), the closing summary and the
exit status it implies."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import TextIO


@dataclass(slots=True)
class RunStats:
    """Counters of one run."""

    produced: int = 0
    published: int = 0
    acked: int = 0
    unacked: int = 0
    silent: int = 0
    duplicates: int = 0
    malformed: int = 0
    errors: int = 0
    elapsed_s: float = 0.0

    @property
    def rate(self) -> float:
        return self.published / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def summary(self, manifest: str | None) -> str:
        """One line for the end of the run."""
        text = (
            f"published {self.published} message(s) from {self.produced} produced in "
            f"{self.elapsed_s:.1f} s ({self.rate:.0f}/s): {self.acked} acknowledged, "
            f"{self.unacked} not acknowledged, {self.duplicates} duplicate(s), "
            f"{self.malformed} malformed, {self.silent} kept silent by dropout, "
            f"{self.errors} error(s)"
        )
        return text + (f"; manifest {manifest}" if manifest else "")


class Progress:
    """Redraws one status line on a terminal at most ``hz`` times a second; silent otherwise."""

    def __init__(self, stream: TextIO | None = None, hz: float = 4.0) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self._period = 1.0 / hz
        self._next = 0.0
        self._width = 0

    def update(self, stats: RunStats, started: float, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now < self._next:
            return
        self._next = now + self._period
        elapsed = max(1e-9, now - started)
        line = (
            f"sent {stats.published}  acked {stats.acked}  "
            f"rate {stats.published / elapsed:.0f}/s  errors {stats.errors}"
        )
        self.stream.write("\r" + line.ljust(self._width))
        self._width = len(line)
        self.stream.flush()

    def close(self) -> None:
        """End the progress line so the summary starts on a fresh line."""
        if self.enabled and self._width:
            self.stream.write("\n")
            self.stream.flush()


@dataclass(slots=True)
class Outcome:
    """How one publishing process's run ended (see :func:`verdict`)."""

    stats: RunStats
    #: Why the run stopped early because the broker went silent, else None.
    stalled: str | None = None
    interrupted: bool = False


def verdict(stats: RunStats, stalled: str | None, interrupted: bool) -> tuple[int, list[str]]:
    """The exit code of a run and the lines that explain it on stderr."""
    if stalled is not None:
        return 3, [stalled]
    if interrupted:
        return 130, ["interrupted; the manifest holds everything sent"]
    if stats.unacked:
        return 1, [f"{stats.unacked} publish(es) were not acknowledged by the broker"]
    return 0, []


def finish(stats: RunStats, stalled: str | None, interrupted: bool, manifest: str | None) -> int:
    """Print the summary and the verdict; return the exit code."""
    print(f"iotgw sim: {stats.summary(manifest)}")
    code, lines = verdict(stats, stalled, interrupted)
    for line in lines:
        print(f"iotgw sim: {line}", file=sys.stderr)
    return code
