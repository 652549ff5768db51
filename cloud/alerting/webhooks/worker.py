"""The delivery worker: claims due outbox rows and POSTs them, signed, to their endpoints.

Only a 2xx counts as delivered (redirects are not followed). 410 Gone disables the endpoint.
429 and 503 honour ``Retry-After``; every other failure (3xx, 4xx, 5xx, timeouts, refused
connections) is retried with exponential backoff and jitter until ``max_attempts``.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Mapping
from typing import Any

import httpx

from cloud.alerting.core.clock import Clock
from cloud.alerting.core.errors import NotFound, UnsafeTarget
from cloud.alerting.settings import WebhookSettings
from cloud.alerting.webhooks.endpoints import EndpointStore
from cloud.alerting.webhooks.outbox import Outbox, Outcome
from cloud.alerting.webhooks.signing import headers
from cloud.alerting.webhooks.ssrf import pinned
from cloud.metrics import CloudMetrics
from common.backoff import Backoff, parse_retry_after
from common.httpx_hygiene import unbound
from common.loop import BackgroundLoop

log = logging.getLogger(__name__)

#: Outcome state -> the ``outcome`` label of ``iotgw_cloud_webhook_deliveries_total``.
OUTCOME_LABELS = {"delivered": "delivered", "pending": "retry", "failed": "failed"}


class DeliveryWorker:
    """Sends webhook deliveries; :meth:`run_once` is one round, :meth:`start` runs rounds."""

    def __init__(
        self, outbox: Outbox, endpoints: EndpointStore, settings: WebhookSettings, clock: Clock,
        metrics: CloudMetrics, backoff: Backoff | None = None,
    ) -> None:
        self._outbox = outbox
        self._endpoints = endpoints
        self._settings = settings
        self._clock = clock
        self._deliveries = metrics.webhook_deliveries
        self._backoff = backoff or Backoff(
            settings.backoff_base_s, settings.backoff_max_s, settings.retry_after_max_s)
        self._client: httpx.Client | None = None
        self._client_lock = threading.Lock()
        self._loop = BackgroundLoop("webhook-worker", self._round, settings.poll_s,
                                    join_timeout_s=settings.timeout_s * 2, first_wait=False)

    def _http(self) -> httpx.Client:
        with self._client_lock:
            if self._client is None:
                self._client = self._new_client()
            return self._client

    def _new_client(self) -> httpx.Client:
        ca_file = self._settings.ca_file
        verify: ssl.SSLContext | bool = (ssl.create_default_context(cafile=str(ca_file))
                                         if ca_file is not None else True)
        return httpx.Client(
            follow_redirects=False, timeout=self._settings.timeout_s, trust_env=False,
            headers={"user-agent": "iotgw-webhooks/1"}, verify=verify)

    def run_once(self) -> int:
        """Claim and attempt the due deliveries; how many were attempted."""
        s = self._settings
        lease_ms = round((s.claim_s + s.batch * s.timeout_s) * 1000)
        token, rows = self._outbox.claim(s.batch, lease_ms)
        for row in rows:
            outcome = self._attempt(row)
            self._outbox.settle(row, token, outcome)
            self._deliveries.labels(outcome=OUTCOME_LABELS[outcome.state]).inc()
        return len(rows)

    def _attempt(self, row: Mapping[str, Any]) -> Outcome:
        started = time.monotonic()
        now_ms = self._clock.now_ms()
        try:
            endpoint = self._endpoints.row(row["endpoint_id"])
        except NotFound:
            return Outcome("failed", None, "endpoint deleted", now_ms, 0)
        if not endpoint["enabled"]:
            return Outcome("failed", None, "endpoint disabled", now_ms, 0)
        try:
            addresses = self._endpoints.check(endpoint["url"])
        except UnsafeTarget as exc:
            return Outcome("failed", None, str(exc), now_ms, 0)
        body = row["payload"].encode()
        hdrs = headers(endpoint["secret"], row["id"], now_ms // 1000, body)
        # Connect to the address just checked (no second DNS lookup), as the URL's host.
        target = pinned(endpoint["url"], addresses[0])
        hdrs = {**hdrs, "host": target.host}
        extensions = {"sni_hostname": target.sni_hostname} if target.sni_hostname else None
        try:
            response = unbound(self._http().post(target.url, content=body, headers=hdrs,
                                                 extensions=extensions))
        except httpx.HTTPError as exc:
            return self._retry(row, None, f"{type(exc).__name__}: {exc}", None, started)
        status = response.status_code
        if 200 <= status < 300:
            return Outcome("delivered", status, None, now_ms, _ms_since(started))
        if status == 410:
            self._endpoints.disable(endpoint["id"], "the receiver answered 410 Gone")
            return Outcome("failed", status, "410 Gone: endpoint disabled", now_ms,
                           _ms_since(started))
        retry_after = response.headers.get("retry-after") if status in (429, 503) else None
        return self._retry(row, status, f"HTTP {status}", retry_after, started)

    def _retry(
        self, row: Mapping[str, Any], status: int | None, error: str, retry_after: str | None,
        started: float,
    ) -> Outcome:
        attempts = row["attempts"] + 1
        now_ms = self._clock.now_ms()
        if attempts >= self._settings.max_attempts:
            return Outcome("failed", status, f"{error} (gave up after {attempts} attempts)",
                           now_ms, _ms_since(started))
        delay = self._backoff.delay(attempts, parse_retry_after(retry_after, now_ms / 1000))
        return Outcome("pending", status, error, now_ms + round(delay * 1000), _ms_since(started))

    def start(self) -> None:
        """Run rounds in a background thread until :meth:`stop`."""
        self._loop.start()

    def stop(self) -> None:
        """Finish the current round and stop."""
        self._loop.stop()
        with self._client_lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def _round(self) -> bool:
        """One round; True when it sent something (more may be due at once)."""
        try:
            return bool(self.run_once())
        except Exception:  # a database hiccup must not kill the worker
            log.exception("webhook delivery round failed")
            return False


def _ms_since(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
