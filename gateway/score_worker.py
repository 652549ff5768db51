"""Scoring in a worker process, so scoring and the rest of the gateway use two cores.

With detectors on, scoring is most of the processing stage's CPU (decision 93), and the stage
shares one interpreter with the intake and the uplink. With ``detect.worker = true`` the
:class:`~gateway.detect.bank.DetectorBank` lives in a process of its own: the stage hands it a
batch's new messages (after de-duplication, so a redelivery is never learnt twice) and waits
for their anomaly events, releasing the interpreter lock to the intake and the uplink meanwhile.
One batch at a time, in the stage's order, so per-stream order and state are as inline.

The worker saves every stream's state when told to stop (as the inline bank does). If it dies,
:meth:`ScoreWorker.score_batch` scores inline from then on with a bank of its own, which loads
each stream's state as last saved: learning since then is lost, which detector learning may
be (it is not part of the promise), and the batch in hand is scored all the same.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.decoded import ToScore
from gateway.detect.bank import DetectorBank
from gateway.detect.settings import DetectSettings
from gateway.errors import GatewayError
from gateway.scoring import AnomalyEvent, score_message
from gateway.workers import reap, spawn

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

log = logging.getLogger("gateway.score_worker")

Item = tuple[str, ToScore]
#: The worker's answer: (index, events) for the items that raised any, and the readings whose
#: scoring failed.
Answer = tuple[list[tuple[int, list[AnomalyEvent]]], int]


def score_items(bank: DetectorBank, items: Sequence[Item]) -> Answer:
    """Score ``items`` in order with ``bank``; the events per item that has any."""
    failures = 0

    def failed() -> None:
        nonlocal failures
        failures += 1

    out = []
    for i, (device, scoring) in enumerate(items):
        events = score_message(bank, device, scoring, failed)
        if events:
            out.append((i, events))
    return out, failures


def _serve(conn: Connection, settings: dict[str, Any], state_dir: str) -> None:
    bank = DetectorBank(DetectSettings.model_validate(settings), Path(state_dir))
    bank.start()
    try:
        while True:
            try:
                request = conn.recv()
            except (EOFError, OSError):
                return  # the gateway is gone: save (below) and end
            if request is None:
                break
            kind, body = request
            if kind == "score":
                conn.send(score_items(bank, body))
            elif kind == "settings":
                bank.apply_settings(body)
    finally:
        bank.stop()
        with contextlib.suppress(OSError):
            conn.send("stopped")


class ScoreWorker:
    """A :class:`~gateway.detect.bank.DetectorBank` in a process of its own."""

    def __init__(self, settings: DetectSettings, state_dir: Path,
                 on_failure: Callable[[], None] = lambda: None) -> None:
        self.settings = settings
        self._state_dir = state_dir
        self._on_failure = on_failure
        self._conn: Connection | None = None
        self._proc: Any = None
        self._inline: DetectorBank | None = None
        self._submitted: list[Item] | None = None
        self._send_lock = threading.Lock()

    def start(self) -> None:
        self._conn, self._proc = spawn(
            _serve, (self.settings.model_dump(mode="json"), str(self._state_dir)), "iotgw-score")

    @property
    def pid(self) -> int | None:
        """The worker process's id (None once scoring is inline)."""
        return None if self._proc is None else int(self._proc.pid)

    def stop(self, timeout: float = 30.0) -> None:
        """Tell the worker to save its streams' state and exit (killed after ``timeout``)."""
        if self._conn is not None:
            with contextlib.suppress(OSError, ValueError, EOFError):
                self._conn.send(None)
                if self._conn.poll(timeout):
                    self._conn.recv()
            self._conn.close()
            self._conn = None
        if self._proc is not None:
            reap(self._proc)
            self._proc = None
        if self._inline is not None:
            self._inline.stop()

    def apply_settings(self, update: dict[str, Any]) -> None:
        """Reloaded detector settings, for the next batch on."""
        self.settings = self.settings.model_copy(update=update)
        if self._inline is not None:
            self._inline.apply_settings(update)
            return
        try:
            self._send(("settings", update))
        except GatewayError as exc:  # the stage finds the worker gone at its next batch,
            log.warning("%s; the new settings apply when scoring goes inline", exc)

    def observe(self, device: str, sensor: str, ts_ms: int, value: float,
                site: str | None = None) -> AnomalyEvent | None:
        """One reading (the :class:`~gateway.scoring.Scorer` protocol; the pipeline uses
        :meth:`score_batch`)."""
        events = self.score_batch([(device, ToScore(site, ts_ms, ((sensor, ts_ms, value),)))])
        return events[0][0] if events[0] else None

    def score_batch(self, items: Sequence[Item],
                    on_error: Callable[[], None] = lambda: None) -> list[list[AnomalyEvent]]:
        """The anomaly events of each ``(device, scoring)`` item, in order."""
        self.submit(items)
        return self.collect(on_error)

    def submit(self, items: Sequence[Item]) -> None:
        """Hand ``items`` to the worker (one batch at a time: :meth:`collect` before the
        next)."""
        if self._submitted is not None:  # never collected (a failure in between): drop it
            log.warning("the score worker's answer to an abandoned batch is dropped")
            self.collect()
        self._submitted = list(items)
        if self._inline is None:
            try:
                self._send(("score", self._submitted))
            except GatewayError as exc:
                self._fail(exc)

    def collect(self, on_error: Callable[[], None] = lambda: None) -> list[list[AnomalyEvent]]:
        """The events of the submitted items, in order (waits for the worker)."""
        items, self._submitted = self._submitted or [], None
        if self._inline is None:
            try:
                answer: Answer = self._receive()
            except GatewayError as exc:
                self._fail(exc)
        if self._inline is not None:  # the worker died: the batch in hand is scored here
            answer = score_items(self._inline, items)
        found, failures = answer
        for _ in range(failures):
            on_error()
        out: list[list[AnomalyEvent]] = [[] for _ in items]
        for i, events in found:
            out[i] = events
        return out

    def _send(self, request: object) -> None:
        # The stage's batches and a reload's settings come from two threads: one message at
        # a time on the pipe.
        with self._send_lock:
            if self._conn is None:
                raise GatewayError("the score worker is not running")
            try:
                self._conn.send(request)
            except (OSError, ValueError) as exc:
                raise GatewayError(f"the score worker is gone: {exc}") from exc

    def _receive(self) -> Answer:
        assert self._conn is not None
        try:
            answer: Answer = self._conn.recv()
        except (EOFError, OSError) as exc:
            raise GatewayError(f"the score worker died: {exc!r}") from exc
        return answer

    def _fail(self, exc: GatewayError) -> None:
        log.error("%s; scoring inline from now on (stream state as last saved)", exc)
        self._on_failure()
        if self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn.close()
            self._conn = None
        if self._proc is not None:
            reap(self._proc, 0.0)
            self._proc = None
        self._inline = DetectorBank(self.settings, self._state_dir)
        self._inline.start()
