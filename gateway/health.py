"""Health and metrics over HTTP on a local port: ``/healthz``, ``/readyz``, ``/metrics``.

``/healthz`` answers 200 while the process serves requests. ``/readyz`` answers 200 only when
every readiness check passes (broker connected, buffer writable, uplink token accepted) and 503
naming the failing ones otherwise: ``checks`` maps each to true/false and ``reasons`` says why
each failing one failed. ``/metrics`` is the Prometheus text format. Binds to loopback by
default.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST

from gateway.errors import GatewayError
from gateway.metrics import GatewayMetrics

log = logging.getLogger("gateway.health")

#: A readiness check: None when it passes, else the reason it does not.
Check = Callable[[], str | None]


class HealthServer:
    """Serves health and metrics; ``port=0`` picks a free port (see :attr:`port`)."""

    def __init__(self, host: str, port: int, metrics: GatewayMetrics,
                 checks: dict[str, Check]) -> None:
        self.host = host
        self.port = port
        self._metrics = metrics
        self._checks = checks
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, ctype, body = outer.respond(self.path.split("?", 1)[0])
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        try:
            self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        except OSError as exc:
            raise GatewayError(
                f"health.port: cannot listen on {self.host}:{self.port} ({exc.strerror}); "
                "pick a free port or 0 to turn it off") from exc
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        threading.Thread(target=self._server.serve_forever, name="health", daemon=True).start()
        log.info("health and metrics on http://%s:%d", self.host, self.port)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def respond(self, path: str) -> tuple[int, str, bytes]:
        """Status, content type and body for ``path``."""
        if path == "/healthz":
            return 200, "application/json", b'{"status":"ok"}'
        if path == "/readyz":
            reasons: dict[str, str] = {}
            for name, check in self._checks.items():
                try:
                    reason = check()
                except Exception as exc:
                    reason = f"{type(exc).__name__}: {exc}"
                if reason is not None:
                    reasons[name] = reason
            ok = not reasons
            body = json.dumps({"ready": ok,
                               "checks": {n: n not in reasons for n in self._checks},
                               "reasons": reasons}).encode()
            return (200 if ok else 503), "application/json", body
        if path == "/metrics":
            return 200, CONTENT_TYPE_LATEST, self._metrics.render()
        return 404, "application/json", b'{"detail":"not found"}'
