"""A webhook receiver for tests: real uvicorn on a loopback port, checking every delivery's
signature with the example consumer's verifier, answering with scripted statuses."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.alerting.harness import load_consumer
from tests.support.http import UvicornThread

consumer = load_consumer()


class Receiver:
    """Records deliveries to ``/hook``; ``script`` holds (status, headers) answers to give
    before falling back to 204. ``/elsewhere`` records anything that reaches it."""

    def __init__(self, now_s: Callable[[], float], port: int | None = None,
                 **server: Any) -> None:
        self.now_s = now_s
        self.secret: str | None = None
        self.script: deque[tuple[int, dict[str, str]]] = deque()
        self.received: list[dict[str, Any]] = []
        self.elsewhere = 0
        self._lock = threading.Lock()
        app = Starlette(routes=[Route("/hook", self._hook, methods=["POST"]),
                                Route("/elsewhere", self._elsewhere, methods=["POST"])])
        self.server = UvicornThread(app, port=port, **server)

    @property
    def url(self) -> str:
        return f"{self.server.url}/hook"

    async def _hook(self, request: Request) -> Response:
        body = await request.body()
        assert self.secret is not None
        verifier = consumer.Verifier(self.secret, clock=self.now_s)
        try:
            msg_id, _new = verifier.verify(dict(request.headers), body)
            valid = True
        except consumer.Rejected:
            msg_id, valid = request.headers.get("webhook-id"), False
        with self._lock:
            self.received.append({"id": msg_id, "valid": valid, "body": body,
                                  "headers": dict(request.headers)})
            status, headers = self.script.popleft() if self.script else (204, {})
        return Response(status_code=status, headers=headers)

    async def _elsewhere(self, _request: Request) -> Response:
        self.elsewhere += 1
        return Response(status_code=200)

    def ids(self) -> list[str]:
        return [r["id"] for r in self.received]

    def __enter__(self) -> Receiver:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()
