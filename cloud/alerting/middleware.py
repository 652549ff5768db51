"""Counts ingest requests by outcome for the availability SLA, without touching the handler."""

from __future__ import annotations

import logging
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)


class IngestOutcomeMiddleware:
    """Pure ASGI middleware: after each ``POST /v1/ingest``, reports whether it got a 2xx/4xx
    (available) or a 5xx/429 (unavailable) to ``record(ok, path)``."""

    def __init__(self, app: ASGIApp, record: Callable[[bool], None],
                 path: str = "/v1/ingest") -> None:
        self.app = app
        self._record = record
        self._path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self._path or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        status = 500

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            try:
                self._record(status < 500 and status != 429)
            except Exception:
                log.exception("could not record the ingest outcome")
