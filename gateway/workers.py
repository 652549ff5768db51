"""Starting and ending the gateway's worker processes (decoding, scoring): spawned, each with
one end of a pipe, and reaped, killed if they do not end in time."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # multiprocessing loads when a worker starts: workers are off by default
    from multiprocessing.connection import Connection


def spawn(target: Callable[..., None], args: tuple[Any, ...], name: str) -> tuple[Connection, Any]:
    """Start ``target(child_end, *args)`` in a fresh interpreter; this side's pipe end and the
    process."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=target, args=(child, *args), name=name, daemon=True)
    proc.start()
    child.close()
    return parent, proc


def reap(proc: Any, timeout: float = 5.0) -> None:
    """Wait ``timeout`` seconds for ``proc`` to end, then kill it."""
    proc.join(timeout)
    if proc.is_alive():
        proc.kill()
        proc.join()
