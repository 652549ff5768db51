"""Line protocol POSTed to InfluxDB's ``/write`` over keep-alive connections of the standard
library's :mod:`http.client`: the one request the ingest path makes per batch.

Measured against httpx on the same loopback influxd (CPU of the writing process per 5,000-line
write): httpx ~0.8-1.0 ms, of which ~0.3 ms is per request (URL merging, its transport layers)
and the rest re-slicing the body after each partial ``send``; :mod:`http.client` ~0.4 ms. The
store's other requests (queries, ping, database creation) stay on httpx. Writes connect
straight to the URL's host: proxy variables of the environment are not consulted.

A connection is taken from the idle ones (or made) for one request and given back after its
response is read, so concurrent ingest threads each use their own. A reused connection that
the server closed meanwhile fails on the first byte: the write is sent once more on a fresh one
(harmless: a point is identified by its series and timestamp).
"""

from __future__ import annotations

import base64
import http.client
import queue
import ssl
from urllib.parse import urlencode, urlsplit

import httpx

#: What a write that did not complete raises (connection refused, reset, timed out, bad HTTP).
WriteFailed = (OSError, http.client.HTTPException)
#: What a kept-alive connection the server has since closed raises on reuse.
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


def basic_auth(username: str, password: str) -> str:
    """The ``Authorization`` value of HTTP basic auth.

    >>> basic_auth("u", "p")
    'Basic dTpw'
    """
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


class LineWriter:
    """POSTs bodies to ``<url>/write?<params>`` with ``headers``."""

    def __init__(self, url: str, params: dict[str, str], headers: dict[str, str],
                 timeout_s: float, verify_tls: bool = True) -> None:
        parts = urlsplit(url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or "localhost"
        self._port = parts.port
        self._target = f"{parts.path.rstrip('/')}/write?{urlencode(params)}"
        self._headers = dict(headers)
        self._timeout = timeout_s
        # The TLS context httpx gives the store's queries (its CA bundle, SSL_CERT_FILE):
        # writes and queries verify the same way.
        self._context: ssl.SSLContext | None = (
            httpx.create_ssl_context(verify=verify_tls) if self._https else None)
        self._idle: queue.SimpleQueue[http.client.HTTPConnection] = queue.SimpleQueue()

    def _connect(self) -> http.client.HTTPConnection:
        if self._https:
            return http.client.HTTPSConnection(self._host, self._port, timeout=self._timeout,
                                               context=self._context)
        return http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)

    def _take(self) -> tuple[http.client.HTTPConnection, bool]:
        try:
            return self._idle.get_nowait(), True
        except queue.Empty:
            return self._connect(), False

    def post(self, body: bytes) -> tuple[int, str]:
        """The status and body text of one write; raises one of :data:`WriteFailed`."""
        while True:
            conn, reused = self._take()
            try:
                conn.request("POST", self._target, body=body, headers=self._headers)
                resp = conn.getresponse()
                text = resp.read()
            except _STALE:
                conn.close()
                if reused:
                    continue  # closed while idle: once more, on the next (or a new) one
                raise
            except BaseException:
                conn.close()
                raise
            if resp.will_close:
                conn.close()
            else:
                self._idle.put(conn)
            return resp.status, text.decode("utf-8", "replace")

    def close(self) -> None:
        """Close the idle connections (one in use is closed by its request's end)."""
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return
