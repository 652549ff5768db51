"""A real uvicorn server on a free loopback port, in a thread, serving any ASGI app.

Used by the ``http`` fixture (tests/conftest.py) and by benchmarks: requests go through real
sockets, HTTP parsing and the app's lifespan, exactly as in production.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import uvicorn

from tests.support.servers import LOOPBACK, free_port


class UvicornThread:
    """``start()`` serves ``app`` on ``url`` and returns once it is ready; ``stop()`` shuts it."""

    def __init__(self, app: Any, port: int | None = None, log_level: str = "warning",
                 host: str = LOOPBACK, tls: tuple[str, str] | None = None) -> None:
        self.app = app
        self.host = host
        self.tls = tls  #: (certificate file, key file): serve https
        self.port = port or free_port()
        self.log_level = log_level
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 20.0) -> None:
        cert, key = self.tls or (None, None)
        config = uvicorn.Config(self.app, host=self.host, port=self.port,
                                log_level=self.log_level, lifespan="on", access_log=False,
                                ssl_certfile=cert, ssl_keyfile=key)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="uvicorn", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("uvicorn exited during start-up (see the log above)")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"uvicorn did not start within {timeout}s")
            time.sleep(0.02)

    def stop(self, timeout: float = 15.0) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
        self._server = None
        self._thread = None

    def __enter__(self) -> UvicornThread:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()
