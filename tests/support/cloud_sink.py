"""A small recording implementation of the cloud's ingest contract, for gateway tests.

``POST /v1/ingest`` with a bearer token and an ``Idempotency-Key`` (same key and body replays
the stored answer; same key, other body: 422), gzip or plain, JSON or compact (by
``Content-Type``). Bodies are judged by the ingest contract
(:func:`ingest_protocol.receive.judge_any`: 400/413/422 for a body that is no batch, else
the valid entries are stored and the rest listed in the answer's ``rejected``), with the
cloud's default limits unless given others. Readings are stored keyed by (device, seq,
sensor) with the number of times each was stored, so tests can check for losses and
duplicates. It fails on demand: ``mode`` ``"503"`` (with ``Retry-After``), ``"429"``,
``"500"``, ``"hang"``, and ``down()``/``up()`` close and reopen its port. ``reject`` makes it
answer 422 to any batch holding a reading for which the predicate is true. ``delay`` holds
each request that long before storing and answering it (a batch in flight). Loopback only.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ingest_protocol import EnvelopeRejected
from ingest_protocol.compact import media_type
from ingest_protocol.receive import judge_any
from tests.support.servers import LOOPBACK, free_port

Key = tuple[str, int, str]


class CloudSink:
    def __init__(self, token: str = "test-token", port: int | None = None,
                 max_body_bytes: int = 16 * 1024 * 1024, max_readings: int = 10_000,
                 max_anomalies: int = 1_000) -> None:
        self.token = token
        self.max_body_bytes = max_body_bytes
        self.max_readings = max_readings
        self.max_anomalies = max_anomalies
        self.port = port or free_port()
        self.mode = "ok"
        self.retry_after = 1
        self.delay = 0.0
        self.reject: Callable[[dict[str, Any]], bool] | None = None
        self.stored: Counter[Key] = Counter()
        self.anomalies: list[dict[str, Any]] = []
        self.statuses: Counter[int] = Counter()
        self._answers: dict[str, tuple[str, int, bytes]] = {}
        self._lock = threading.Lock()
        self._stat_lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._release = threading.Event()
        self._connections: set[socket.socket] = set()

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def open_connections(self) -> int:
        """Client connections open now (a client sending several requests at once opens one
        per request in flight)."""
        with self._stat_lock:
            return len(self._connections)

    def up(self) -> None:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def setup(self) -> None:
                super().setup()
                with sink._stat_lock:
                    sink._connections.add(self.connection)

            def finish(self) -> None:
                with sink._stat_lock:
                    sink._connections.discard(self.connection)
                super().finish()

            def do_POST(self) -> None:
                sink._handle(self)

            def log_message(self, *args: object) -> None:
                pass

        self._release.clear()
        server = ThreadingHTTPServer((LOOPBACK, self.port), Handler)
        server.daemon_threads = True
        self._server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()

    start = up

    def down(self) -> None:
        self._release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self._stat_lock:  # keep-alive connections too: down means down
            for conn in list(self._connections):
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)

    stop = down

    def duplicates(self) -> dict[Key, int]:
        with self._lock:
            return {k: n for k, n in self.stored.items() if n > 1}

    def keys(self) -> set[Key]:
        with self._lock:
            return set(self.stored)

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 60.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.05)
        return predicate()

    # -- the contract ------------------------------------------------------------------------

    def _handle(self, req: BaseHTTPRequestHandler) -> None:
        raw = req.rfile.read(int(req.headers.get("Content-Length", "0")))
        if self.delay:
            self._release.wait(self.delay)
        mode = self.mode
        if mode == "hang":
            self._release.wait(60)
            return
        if mode in {"500", "503", "429"}:
            headers = {} if mode == "500" else {"Retry-After": str(self.retry_after)}
            return self._reply(req, int(mode), {"detail": "failing on purpose"}, headers)
        if req.path != "/v1/ingest":
            return self._reply(req, 404, {"detail": "not found"})
        if req.headers.get("Authorization") != f"Bearer {self.token}":
            return self._reply(req, 401, {"detail": "bad token"})
        key = req.headers.get("Idempotency-Key")
        if not key:
            return self._reply(req, 400, {"detail": "Idempotency-Key is required"})
        if len(raw) > self.max_body_bytes:
            return self._reply(req, 413, {"detail": "the body is too large"})
        if req.headers.get("Content-Encoding") == "gzip":
            raw = gzip.decompress(raw)
            if len(raw) > self.max_body_bytes:
                return self._reply(req, 413, {"detail": "the decompressed body is too large"})
        try:
            verdict = judge_any(raw, media_type(req.headers.get("Content-Type")),
                                self.max_readings, self.max_anomalies)
        except EnvelopeRejected as exc:
            return self._reply(req, exc.status, {"detail": exc.detail})
        digest = hashlib.sha256(raw).hexdigest()
        with self._lock:
            if key in self._answers:
                old_digest, status, body = self._answers[key]
                if old_digest != digest:
                    return self._reply(req, 422, {"detail": "key reused with another body"})
                return self._send(req, status, body)
            readings = verdict.readings.entries
            if self.reject is not None and any(self.reject(dict(r)) for r in readings):
                return self._reply(req, 422, {"detail": "a reading is invalid"})
            for r in readings:
                self.stored[(r["device"], int(r["seq"]), r["sensor"])] += 1
            self.anomalies.extend(dict(a) for a in verdict.anomalies.entries)
            body = json.dumps(verdict.response()).encode()
            self._answers[key] = (digest, 200, body)
        self._send(req, 200, body)

    def _reply(self, req: BaseHTTPRequestHandler, status: int, obj: dict[str, Any],
               headers: dict[str, str] | None = None) -> None:
        self._send(req, status, json.dumps(obj).encode(), headers)

    def _send(self, req: BaseHTTPRequestHandler, status: int, body: bytes,
              headers: dict[str, str] | None = None) -> None:
        with self._stat_lock:
            self.statuses[status] += 1
        req.send_response(status)
        req.send_header("Content-Type", "application/json")
        req.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            req.send_header(k, v)
        req.end_headers()
        req.wfile.write(body)

