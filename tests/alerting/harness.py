"""A real cloud app (SQLite or PostgreSQL metadata, SQLite store) served by uvicorn on a free
loopback port and driven over HTTP with an explicit clock: tests ingest through
``POST /v1/ingest`` (with the gateway's ``ingest`` token), manage rules through the API (with an
``admin`` token, which ``client`` sends by default) and run the evaluator's tick and the
delivery worker's rounds themselves (no background threads)."""

from __future__ import annotations

import importlib.util
import itertools
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from cloud.alerting.core.clock import ManualClock
from cloud.app import create_app
from cloud.services import Services
from cloud.settings import load_settings
from tests.support.http import UvicornThread

#: 2026-05-01T00:00:00Z: where the explicit clocks start.
T0 = 1_777_593_600_000
ROOT = Path(__file__).resolve().parents[2]


def load_consumer() -> Any:
    """``examples/webhook_consumer.py`` as a module (examples/ is not a package)."""
    spec = importlib.util.spec_from_file_location("webhook_consumer",
                                                  ROOT / "examples" / "webhook_consumer.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Cloud:
    """One cloud replica: ``client`` talks HTTP to it; ``clock`` is its alerting clock."""

    _seq = itertools.count(1)

    def __init__(self, data_dir: Path, clock: ManualClock, metadata_url: str = "",
                 store_path: Path | None = None, **alerting: Any) -> None:
        self.clock = clock
        webhooks = {"allow_loopback": True, "backoff_base_s": 1.0, "backoff_max_s": 60.0,
                    **alerting.pop("webhooks", {})}
        settings = load_settings(
            None, data_dir=data_dir, metadata={"url": metadata_url},
            store={"kind": "sqlite", "path": store_path or data_dir / "series.sqlite3"},
            alerting={"enabled": False, "rules_refresh_s": 0, "webhooks": webhooks, **alerting})
        self.services = Services(settings, clock=clock)
        self.alerting = self.services.alerting
        self.server = UvicornThread(create_app(settings, self.services))

    def __enter__(self) -> Cloud:
        self.server.start()   # runs the app's lifespan: services start
        _info, self.token = self.services.tokens.create("gw-test")
        _info, self.admin_token = self.services.tokens.create(scopes=["admin"], name="tests")
        self.client = httpx.Client(base_url=self.server.url, timeout=30, trust_env=False,
                                   headers={"Authorization": f"Bearer {self.admin_token}"})
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()
        self.server.stop()

    def ingest(self, readings: Sequence[dict[str, Any]],
               anomalies: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
        body = {"gateway_id": "gw-test", "batch_id": uuid.uuid4().hex,
                "readings": list(readings), "anomalies": list(anomalies)}
        resp = self.client.post("/v1/ingest", json=body, headers={
            "Authorization": f"Bearer {self.token}", "Idempotency-Key": body["batch_id"]})
        assert resp.status_code == 200, resp.text
        return dict(resp.json())

    def feed(self, device: str, sensor: str, ts: np.ndarray, values: np.ndarray,
             unit: str | None = None, batch: int = 60, site: str | None = None,
             tick_every_s: float | None = None) -> None:
        """Ingest a series in batches, moving the clock to each batch's newest timestamp
        (and ticking the scheduled evaluator every ``tick_every_s`` when given)."""
        next_tick = int(ts[0]) if tick_every_s else None
        for start in range(0, len(ts), batch):
            chunk = [reading(device, sensor, int(t), float(v), unit, site)
                     for t, v in zip(ts[start:start + batch], values[start:start + batch],
                                     strict=True)]
            self.clock.set(int(ts[min(start + batch, len(ts)) - 1]))
            self.ingest(chunk)
            if next_tick is not None and self.clock.now_ms() >= next_tick:
                self.tick()
                next_tick = self.clock.now_ms() + round((tick_every_s or 0) * 1000)

    def tick(self) -> None:
        self.alerting.evaluator.tick()

    def deliver(self) -> int:
        return self.alerting.worker.run_once()

    def rule(self, **spec: Any) -> str:
        resp = self.client.post("/v1/rules", json=spec)
        assert resp.status_code == 201, resp.text
        return str(resp.json()["id"])

    def alerts(self, **params: Any) -> list[dict[str, Any]]:
        resp = self.client.get("/v1/alerts", params=params)
        assert resp.status_code == 200, resp.text
        return list(resp.json())


def reading(device: str, sensor: str, ts: int, value: float, unit: str | None = None,
            site: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"device": device, "sensor": sensor, "ts": ts, "value": value,
                           "seq": next(Cloud._seq) % 2**32}
    if unit:
        out["unit"] = unit
    if site:
        out["site"] = site
    return out


def seconds(start_ms: int, n: int, every_s: float) -> np.ndarray:
    return start_ms + np.arange(n, dtype=np.int64) * round(every_s * 1000)


def states(alerts: Iterable[dict[str, Any]]) -> list[str]:
    return [a["state"] for a in alerts]
