"""A small webhook consumer for iotgw alerts: verifies Standard Webhooks signatures and rejects
replays. Standard library only, so it can be copied anywhere.

    python examples/webhook_consumer.py --secret whsec_... [--host 127.0.0.1] [--port 8000]

Each delivery carries ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature``
(``v1,<base64 HMAC-SHA256 of "id.timestamp.body">`` keyed with the base64-decoded part of the
``whsec_`` secret). The consumer answers 204 to a valid delivery (also to a redelivery of an id
it already processed, without processing it twice), 400 to a bad signature or a timestamp
outside the tolerance (a replay of a captured request), and prints each event as one JSON line.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOLERANCE_S = 300


class Rejected(Exception):
    """A delivery that must not be processed."""


class Verifier:
    """Checks signatures and timestamps, and remembers ids seen within the tolerance window."""

    def __init__(self, secret: str, tolerance_s: int = TOLERANCE_S,
                 clock: Callable[[], float] = time.time) -> None:
        raw = secret.removeprefix("whsec_")
        try:
            self._key = base64.b64decode(raw, validate=True)
        except ValueError:
            raise SystemExit("the secret must be whsec_ followed by base64") from None
        self._tolerance = tolerance_s
        self._clock = clock
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def verify(self, headers: Mapping[str, str], body: bytes) -> tuple[str, bool]:
        """The delivery's id and whether it is new; raises :class:`Rejected` when invalid."""
        h = {k.lower(): v for k, v in headers.items()}
        msg_id = h.get("webhook-id", "")
        ts_text = h.get("webhook-timestamp", "")
        if not msg_id or not ts_text.isdigit() or "webhook-signature" not in h:
            raise Rejected("missing or malformed webhook headers")
        now = self._clock()
        if abs(now - int(ts_text)) > self._tolerance:
            raise Rejected("timestamp outside the tolerance (stale or replayed)")
        signed = f"{msg_id}.{ts_text}.".encode() + body
        expected = base64.b64encode(hmac.new(self._key, signed, hashlib.sha256).digest()).decode()
        if not any(sig.partition(",")[0] == "v1"
                   and hmac.compare_digest(sig.partition(",")[2], expected)
                   for sig in h["webhook-signature"].split()):
            raise Rejected("bad signature")
        with self._lock:
            while self._seen and next(iter(self._seen.values())) < now - 2 * self._tolerance:
                self._seen.popitem(last=False)
            new = msg_id not in self._seen
            self._seen[msg_id] = now
        return msg_id, new


def make_handler(verifier: Verifier, on_event: Callable[[dict[str, Any]], None]
                 ) -> type[BaseHTTPRequestHandler]:
    """A request handler class that verifies and hands new events to ``on_event``."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            try:
                _msg_id, new = verifier.verify(dict(self.headers.items()), body)
                if new:
                    on_event(json.loads(body))
            except (Rejected, ValueError) as exc:
                self.send_response(400)
                self.end_headers()
                self.wfile.write(str(exc).encode())
                return
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--secret", required=True, help="the whsec_... secret of the endpoint")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)

    def show(event: dict[str, Any]) -> None:
        print(json.dumps(event), flush=True)

    server = ThreadingHTTPServer((args.host, args.port), make_handler(Verifier(args.secret), show))
    print(f"listening on http://{args.host}:{server.server_address[1]}", file=sys.stderr,
          flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
