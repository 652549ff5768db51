"""The HTTP sender: ``POST {cloud}/v1/ingest`` with gzip, a bearer token and an idempotency key.

Status mapping: 2xx → :class:`IngestResult`; 400, 413, 422 → :class:`BatchRejected` (split the
batch); 409 (same key still in flight), 429, 503, other 5xx, other 4xx (e.g. a revoked token:
fix the configuration, keep the data), time-outs and connection errors →
:class:`RetryableUplinkError`, with the ``Retry-After`` when the server sent one, and
``undelivered`` set when the cloud certainly stored nothing (connection refused, 429).
"""

from __future__ import annotations

import gzip

from common.backoff import parse_retry_after
from common.httpx_hygiene import httpx, unbound
from gateway.errors import BatchRejected, RetryableUplinkError
from gateway.uplink.base import IngestResult, OutgoingBatch

REJECT = {400, 413, 422}


class HttpSender:
    """Posts batches to the cloud's ingest endpoint over one keep-alive connection."""

    def __init__(self, base_url: str, token: str, timeout_s: float = 10.0,
                 use_gzip: bool = True) -> None:
        self.url = f"{base_url.rstrip('/')}/v1/ingest"
        self._gzip = use_gzip
        headers = {"Content-Type": "application/json", "User-Agent": "iotgw-gateway"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        # A plain http:// cloud uses no TLS: not loading the CA bundle saves ~2.5 MB of RSS.
        tls = self.url.lower().startswith("https://")
        self._client = httpx.Client(timeout=timeout_s, headers=headers, verify=tls)

    def send(self, batch: OutgoingBatch) -> IngestResult:
        headers = {"Idempotency-Key": batch.key, "Content-Type": batch.content_type}
        body = batch.body
        if self._gzip:
            body = gzip.compress(body, compresslevel=1, mtime=0)
            headers["Content-Encoding"] = "gzip"
        try:
            # unbound(): the request and its body are freed now, not at the next collection.
            resp = unbound(self._client.post(self.url, content=body, headers=headers))
        except httpx.ConnectError as exc:  # nothing was sent
            raise RetryableUplinkError(f"cannot reach {self.url}: {exc!r}",
                                       undelivered=True) from exc
        except httpx.TimeoutException as exc:
            raise RetryableUplinkError(f"time-out talking to {self.url}: {exc!r}") from exc
        except httpx.HTTPError as exc:
            raise RetryableUplinkError(f"cannot reach {self.url}: {exc!r}") from exc
        status = resp.status_code
        if 200 <= status < 300:
            try:
                data = resp.json()
                return IngestResult(int(data.get("accepted", 0)), list(data.get("rejected", [])))
            except (ValueError, AttributeError, TypeError):
                return IngestResult(batch.readings)
        detail = resp.text[:300]
        if status in REJECT:
            raise BatchRejected(f"{status} {detail}", status)
        retry_after = parse_retry_after(resp.headers.get("Retry-After"))
        if status == 409 and retry_after is None:
            retry_after = 1.0
        raise RetryableUplinkError(f"{status} {detail}", retry_after=retry_after, status=status,
                                   undelivered=status == 429)

    def close(self) -> None:
        self._client.close()
