"""Request ids: ``X-Request-ID`` honoured (or generated), echoed in the response and put in
every log line written while the request is handled (:data:`common.logs.REQUEST_ID`).

A plain ASGI middleware (no response buffering, no per-request task): it sets the context
variable for the request's task, which the thread pool copies into handler threads.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from common.logs import REQUEST_ID

HEADER = b"x-request-id"
#: An incoming id is kept when it is short, printable and harmless in a log line.
_VALID = re.compile(rb"^[A-Za-z0-9._:@/+=-]{1,128}$")

Scope = dict[str, Any]
Receive = Any
Send = Any


def request_id(scope: Scope) -> str:
    """The client's ``X-Request-ID`` when acceptable, else a new random id."""
    for name, value in scope.get("headers", ()):
        if name == HEADER and _VALID.match(value):
            return str(value.decode("ascii"))
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """Adds ``X-Request-ID`` to every HTTP response and sets the logging context."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = request_id(scope)
        token = REQUEST_ID.set(rid)

        async def send_with_id(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != HEADER]
                message["headers"] = [*headers, (HEADER, rid.encode("ascii"))]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            REQUEST_ID.reset(token)
