"""Decoding in a worker process, so decoding and the rest of processing use two cores.

The processing stage (:mod:`gateway.processor`) hands a batch of logged payloads to the worker
and waits for the results (releasing the interpreter lock to the intake thread meanwhile). At
most one batch is in the worker at a time (which also keeps the pipe from deadlocking). If the
worker dies, :meth:`DecodeWorker.collect` raises :class:`~gateway.errors.GatewayError` and the
stage decodes inline from then on: the lost batch is still in the log.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from gateway.decoding import Decoder, Result
from gateway.errors import GatewayError
from gateway.workers import reap, spawn

if TYPE_CHECKING:  # multiprocessing loads when a worker starts: the worker is off by default
    from multiprocessing.connection import Connection

Item = tuple[str, bytes, int]


def _serve(conn: Connection, specs: list[tuple[str, str | None]], keep: bool) -> None:
    from firmware_protocol.topics import Subscription

    decoder = Decoder([Subscription(topic, codec) for topic, codec in specs], keep)
    while True:
        try:
            items = conn.recv()
        except (EOFError, OSError):
            return
        if items is None:
            return
        conn.send(decoder.decode_batch(items))


class DecodeWorker:
    """One decoding process; ``specs`` are the subscriptions' ``(topic template, codec)``."""

    def __init__(self, specs: list[tuple[str, str | None]], keep_messages: bool) -> None:
        self._specs = specs
        self._keep = keep_messages
        self._conn: Connection | None = None
        self._proc: Any = None
        self.busy = False

    def start(self) -> None:
        self._conn, self._proc = spawn(_serve, (self._specs, self._keep), "iotgw-decode")

    def stop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(OSError, ValueError):
                self._conn.send(None)
            self._conn.close()
            self._conn = None
        if self._proc is not None:
            reap(self._proc)
            self._proc = None

    def submit(self, items: Sequence[Item]) -> None:
        """Hand a group over; only when not :attr:`busy`."""
        assert self._conn is not None and not self.busy
        try:
            self._conn.send(list(items))
        except (OSError, ValueError) as exc:
            raise GatewayError(f"the decode worker is gone: {exc}") from exc
        self.busy = True

    def ready(self, timeout: float = 0.0) -> bool:
        """Whether the results of the submitted group can be collected without waiting."""
        assert self._conn is not None
        try:
            return self.busy and self._conn.poll(timeout)
        except (OSError, ValueError):
            return True  # collect() reports the failure

    def collect(self) -> list[Result]:
        """The results of the submitted group (waits for them)."""
        assert self._conn is not None and self.busy
        self.busy = False
        try:
            results: list[Result] = self._conn.recv()
        except (EOFError, OSError) as exc:
            raise GatewayError(f"the decode worker died: {exc!r}") from exc
        return results
