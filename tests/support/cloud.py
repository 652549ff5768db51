"""A cloud service for tests: the real app served by real uvicorn, a client and tokens.

The ``make_cloud`` fixture (tests/conftest.py) builds these; end-to-end tests point a gateway at
``CloudClient.url`` with ``CloudClient.token`` (the gateway's ``ingest`` token). ``http`` sends
``admin_token`` (every scope but ``ingest``) unless a request sets its own ``Authorization``.
"""

from __future__ import annotations

import gzip
import json
from typing import Any

import httpx


class CloudClient:
    """A running cloud app (real uvicorn) plus an HTTP client and tokens."""

    def __init__(self, app: Any, server: Any, gateway_id: str = "gw-1") -> None:
        self.app = app
        self.server = server
        self.services = app.state.services
        self.url = server.url
        self.gateway_id = gateway_id
        _info, self.token = self.services.tokens.create(gateway_id)
        _info, self.admin_token = self.services.tokens.create(scopes=["admin"], name="tests")
        self.http = httpx.Client(base_url=server.url, timeout=30,
                                 headers={"Authorization": f"Bearer {self.admin_token}"})

    def batch(self, readings, anomalies=(), batch_id: str = "b-1", gateway_id=None) -> dict:
        return {"gateway_id": gateway_id or self.gateway_id, "batch_id": batch_id,
                "sent_at": 1_700_000_000_000, "readings": list(readings),
                "anomalies": list(anomalies)}

    def ingest(self, body, key: str | None = "key-1", token: str | None = None,
               compress: bool = False, headers: dict | None = None) -> httpx.Response:
        h = {"Authorization": f"Bearer {token or self.token}", "Content-Type": "application/json"}
        if key is not None:
            h["Idempotency-Key"] = key
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        if compress:
            data = gzip.compress(data)
            h["Content-Encoding"] = "gzip"
        h.update(headers or {})
        return self.http.post("/v1/ingest", content=data, headers=h)

    def get(self, path: str, **params) -> httpx.Response:
        return self.http.get(path, params=params)

    def close(self) -> None:
        self.http.close()


def reading(device="d1", sensor="temp", ts=1_700_000_000_000, value=1.0, seq=0, **kw) -> dict:
    return {"device": device, "sensor": sensor, "ts": ts, "value": value, "seq": seq, **kw}
