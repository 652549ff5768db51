"""One background loop: a named daemon thread calling a step until stopped.

The cloud's rule evaluator, webhook worker and downsampler each run one. The loop owns the
thread, the stop event and the wait between steps; the step owns its work and its error
reporting. A step that raises anyway is logged and the loop goes on: a background job must
not die silently on one bad round.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class BackgroundLoop:
    """Calls ``step`` every ``every_s`` seconds in a daemon thread until :meth:`stop`.

    ``step`` returns True when more work is waiting: the next step then runs at once instead
    of after the wait. ``first_wait`` False runs the first step as soon as the loop starts.
    """

    def __init__(self, name: str, step: Callable[[], bool | None], every_s: float,
                 *, join_timeout_s: float = 30.0, first_wait: bool = True) -> None:
        self.name = name
        self._step = step
        self._every_s = every_s
        self._join_timeout_s = join_timeout_s
        self._first_wait = first_wait
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self) -> None:
        """Start the thread (a no-op while it runs)."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Ask the loop to stop and wait for a running step to finish."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self._join_timeout_s)
            self._thread = None

    def _run(self) -> None:
        more = not self._first_wait
        while not self._stop.wait(0 if more else self._every_s):
            try:
                more = bool(self._step())
            except Exception:
                log.exception("%s: a round failed; the next one runs as scheduled", self.name)
                more = False
