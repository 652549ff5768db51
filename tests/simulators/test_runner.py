"""The runner's flow control and manifest order, with an in-memory publisher (no broker).

The publisher here is a test double for the *runner's* collaborator, not a broker: it acks a
publish only when the runner waits on it, so the in-flight bound is what is being measured.
"""

from __future__ import annotations

from collections import deque
from pathlib import Path

from firmware_protocol.codecs import get_codec
from simulators.faults import FaultRule
from simulators.fleet import FleetConfig, FleetSource
from simulators.manifest import ManifestWriter, read_manifest
from simulators.outgoing import topic_formatter
from simulators.publisher import Delivery
from simulators.runner import Runner


class _SlowAcker:
    connections = 1
    errors = 0

    def __init__(self) -> None:
        self.outstanding: deque[Delivery] = deque()
        self.max_outstanding = 0
        self.published = 0

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def publish(self, conn: int, topic: str, payload: bytes, qos: int) -> Delivery:
        d = Delivery()
        self.outstanding.append(d)
        self.published += 1
        self.max_outstanding = max(self.max_outstanding, len(self.outstanding))
        return d

    def wait(self, delivery: Delivery, timeout: float) -> bool:
        while self.outstanding and not delivery.done:
            self.outstanding.popleft().acked = True
        return delivery.done


def _source(faults: tuple[FaultRule, ...] = ()) -> FleetSource:
    cfg = FleetConfig(devices=3, sensors=("current",), rate=0.0, fmt="json", qos=1, seed=0,
                      site="s", start_ms=1_700_000_000_000, faults=faults)
    return FleetSource(cfg, get_codec("json"), topic_formatter())


def test_in_flight_publishes_are_bounded(tmp_path: Path) -> None:
    pub = _SlowAcker()
    manifest = ManifestWriter(tmp_path / "m.jsonl")
    manifest.start()
    stats = Runner(_source(), pub, manifest, count=5000, max_pending=100).run()
    manifest.stop()
    assert pub.published == 5000 and stats.acked == 5000
    assert pub.max_outstanding <= 100
    lines = list(read_manifest(tmp_path / "m.jsonl"))
    assert [ln["n"] for ln in lines] == list(range(5000))


def test_unacknowledged_publishes_are_recorded_as_such(tmp_path: Path) -> None:
    class _Never(_SlowAcker):
        def wait(self, delivery: Delivery, timeout: float) -> bool:
            return False

    manifest = ManifestWriter(tmp_path / "m.jsonl")
    manifest.start()
    stats = Runner(_source(), _Never(), manifest, count=20, ack_timeout=0.05).run()
    manifest.stop()
    assert stats.unacked == 20 and stats.acked == 0
    assert not any(ln["acked"] for ln in read_manifest(tmp_path / "m.jsonl"))
