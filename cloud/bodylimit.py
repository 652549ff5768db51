"""Request-body limits on every route, enforced before a body is read into memory.

An ASGI middleware in front of the app: a declared ``Content-Length`` over the route's limit
is answered 413 before one byte of the body is read; a streamed body (chunked, or lying about
its length) is counted as it arrives and refused (413) as soon as it passes the limit, so no
handler ever holds more than the limit. ``POST /v1/ingest`` has its own limit
(``limits.max_body_bytes``); every other route the small ``limits.max_admin_body_bytes``.

Bodies of routes other than ingest (small by that limit) are also checked for JSON nesting
deeper than :data:`ingest_protocol.MAX_JSON_DEPTH` before any parser sees them (400): the
standard parser recurses, and deep documents used to end in a 500. The ingest route does the
same check itself, only on the bodies that need it (see :func:`ingest_protocol.fast_parse`).
A GET, HEAD or OPTIONS request that comes with a body is refused (413) unread (a DELETE
body is only limited: authentication answers first there).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import HTTPException

from ingest_protocol import MAX_JSON_DEPTH, json_depth

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

INGEST_PATH = "/v1/ingest"
#: Methods whose requests carry no body here: one that comes with a body is refused unread.
NO_BODY = frozenset({"GET", "HEAD", "OPTIONS"})


def too_large(limit: int) -> HTTPException:
    """The 413 of a body over ``limit`` bytes."""
    return HTTPException(413, f"the body is larger than {limit} bytes")


class BodyLimit:
    """The middleware; ``ingest_bytes`` for ``/v1/ingest``, ``other_bytes`` for the rest."""

    def __init__(self, app: ASGIApp, ingest_bytes: int, other_bytes: int) -> None:
        self.app = app
        self.ingest_bytes = ingest_bytes
        self.other_bytes = other_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        ingest = scope.get("path") == INGEST_PATH
        limit = self.ingest_bytes if ingest else self.other_bytes
        declared, chunked = _declared(scope)
        if scope.get("method") in NO_BODY and (chunked or declared):
            await _answer(send, 413, f"{scope['method']} requests take no body")
            return
        if declared is not None and declared > limit:
            await _answer(send, 413, f"the body is larger than {limit} bytes")
            return
        await self.app(scope, _Counted(receive, limit, check_depth=not ingest), send)


class _Counted:
    """``receive`` that counts body bytes (413 past the limit) and, when asked, checks the
    finished body's JSON nesting (400)."""

    def __init__(self, receive: Receive, limit: int, check_depth: bool) -> None:
        self._receive = receive
        self._limit = limit
        self._seen = 0
        self._chunks: list[bytes] | None = [] if check_depth else None

    async def __call__(self) -> Message:
        message = await self._receive()
        if message["type"] != "http.request":
            return message
        body = message.get("body", b"")
        self._seen += len(body)
        if self._seen > self._limit:
            self._chunks = None
            raise too_large(self._limit)
        if self._chunks is not None:
            self._chunks.append(body)
            if not message.get("more_body", False):
                whole, self._chunks = b"".join(self._chunks), None
                if json_depth(whole) > MAX_JSON_DEPTH:
                    raise HTTPException(400, "the body is not acceptable JSON: it nests "
                                             f"deeper than {MAX_JSON_DEPTH} levels")
        return message


def _declared(scope: Scope) -> tuple[int | None, bool]:
    """The declared ``Content-Length`` (None when absent) and whether the body is chunked."""
    length, chunked = None, False
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            length = int(text) if text.isdigit() and len(text) < 20 else None
        elif name == b"transfer-encoding":
            chunked = True
    return length, chunked


async def _answer(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
