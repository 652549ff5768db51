"""Browser safety: a request that changes state must send its body as ``application/json``.

A web page can make a browser send a "simple" cross-site request (``text/plain``, a form) with
no preflight; requiring ``application/json`` bodies on POST, PUT, PATCH and DELETE rules those
out (415 otherwise), and the API takes no cookies: credentials are bearer tokens only. Ingest's
gzip-compressed JSON is still ``Content-Type: application/json`` with ``Content-Encoding:
gzip``; its compact batch (``application/vnd.iotgw.batch.v1+msgpack`` or ``+json``, the
contract's media types) is taken on ``POST /v1/ingest`` only: like JSON, a browser cannot send
such a type cross-site without a preflight. A request without a body (``Content-Length: 0`` or
none, no chunked body) needs no type.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Receive, Scope, Send

from ingest_protocol.compact import MEDIA_TYPES

INGEST_PATH = "/v1/ingest"
_COMPACT = frozenset(m.encode() for m in MEDIA_TYPES)

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _has_body(headers: dict[bytes, bytes]) -> bool:
    length = headers.get(b"content-length", b"").strip()
    if length:
        return length != b"0"
    return b"transfer-encoding" in headers


def _is_json(content_type: bytes, path: str) -> bool:
    media = content_type.split(b";", 1)[0].strip().lower()
    return media == b"application/json" or (path == INGEST_PATH and media in _COMPACT)


class JsonBodiesOnly:
    """ASGI middleware: 415 for a state-changing request whose body is not JSON."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in STATE_CHANGING:
            headers = dict(scope["headers"])
            media = headers.get(b"content-type", b"")
            if _has_body(headers) and not _is_json(media, scope["path"]):
                await _refuse(send)
                return
        await self.app(scope, receive, send)


async def _refuse(send: Send) -> None:
    body = json.dumps({"detail": "the body must be JSON: send "
                                 "`Content-Type: application/json`"}).encode()
    await send({"type": "http.response.start", "status": 415, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
