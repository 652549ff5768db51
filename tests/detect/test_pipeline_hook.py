"""The pipeline's per-device hook: a scorer with ``observe_device`` gets each message's values."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from firmware_protocol.codecs import get_codec
from firmware_protocol.model import Message, Reading
from gateway.dedup import DedupWindow
from gateway.metrics import GatewayMetrics
from gateway.pipeline import Incoming, Pipeline
from gateway.scoring import AnomalyEvent
from gateway.service import open_stores
from tests.gateway.helpers import gateway_config, settings_from

TS = 1_767_225_600_000


class StreamScorer:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, float]] = []

    def observe(self, device: str, sensor: str, ts_ms: int, value: float,
                site: str | None = None) -> AnomalyEvent | None:
        self.seen.append((device, sensor, value))
        return None


class DeviceScorer(StreamScorer):
    def __init__(self) -> None:
        super().__init__()
        self.devices: list[tuple[str, int, dict[str, float]]] = []

    def observe_device(self, device: str, ts_ms: int, values: dict[str, float],
                       site: str | None = None) -> AnomalyEvent | None:
        self.devices.append((device, ts_ms, values))
        return AnomalyEvent(device, "+".join(sorted(values)), ts_ms, 0.0, 0.9, "device:test")


def _score(tmp_path: Path, scorer: Any, msg: Message) -> list[AnomalyEvent]:
    broker = SimpleNamespace(url="mqtt://127.0.0.1:1")
    settings = settings_from(gateway_config(tmp_path, broker, "http://127.0.0.1:1", "t"), tmp_path)
    db, dead, buffer = open_stores(settings)
    try:
        subs = [s.build() for s in settings.mqtt.subscriptions]
        pipeline = Pipeline(db, subs, buffer, dead, DedupWindow(db), GatewayMetrics(),
                            scorer=scorer)
        topic = f"sensors/site-1/{msg.device}/json"
        return pipeline.prepare([Incoming(topic, get_codec("json").encode(msg), TS)]).events
    finally:
        db.close()


MSG = Message("dev-1", 7, TS, (Reading("current", 11.5), Reading("vibration", 2.25),
                               Reading("door", True)))


def test_a_device_scorer_gets_the_numeric_values_of_each_message(tmp_path: Path):
    scorer = DeviceScorer()
    events = _score(tmp_path, scorer, MSG)
    assert scorer.seen == [("dev-1", "current", 11.5), ("dev-1", "vibration", 2.25)]
    assert scorer.devices == [("dev-1", TS, {"current": 11.5, "vibration": 2.25})]
    assert [(e.device, e.sensor, e.detector) for e in events] == [
        ("dev-1", "current+vibration", "device:test")]


def test_a_plain_scorer_is_unaffected(tmp_path: Path):
    scorer = StreamScorer()
    assert _score(tmp_path, scorer, MSG) == []
    assert len(scorer.seen) == 2
