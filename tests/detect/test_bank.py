"""DetectorBank: lazy streams, warm-up, no learning from flagged readings, memory cap,
idle eviction, state that survives restarts, incompatible state discarded."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from gateway.detect import DetectorBank, DetectSettings, SentinelDetector
from gateway.scoring import AnomalyEvent, Scorer
from tests.detect.synthetic import sensor_series

SERIES = sensor_series(1)
VALUES = [float(v) for v in SERIES.values[:2200]]
TS = [int(t) for t in SERIES.ts_ms[:2200]]


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _bank(tmp_path: Path, clock=None, **settings) -> DetectorBank:
    bank = DetectorBank(DetectSettings(**settings), tmp_path / "detect", clock=clock or FakeClock())
    bank.start()
    return bank


def _scores(bank: DetectorBank, device: str, values, ts) -> list[float]:
    return [bank.step(device, "temp", t, v)[0] for v, t in zip(values, ts, strict=True)]


def test_bank_is_a_scorer_and_creates_streams_lazily(tmp_path: Path):
    bank = _bank(tmp_path)
    scorer: Scorer = bank
    assert bank.live_streams == 0
    assert scorer.observe("d1", "temp", 0, 20.0) is None
    bank.observe("d1", "hum", 0, 50.0)
    bank.observe("d2", "temp", 0, 20.0)
    assert bank.live_streams == 3


def test_warm_up_raises_no_events_then_events_carry_the_stream(tmp_path: Path):
    bank = _bank(tmp_path, detector="range", params={"low": 0.0, "high": 100.0}, warmup=5)
    assert all(bank.observe("d", "t", i, 500.0) is None for i in range(5))
    event = bank.observe("d", "t", 5_000, 500.0, site="plant-1")
    assert isinstance(event, AnomalyEvent)
    assert (event.device, event.sensor, event.ts_ms, event.value) == ("d", "t", 5_000, 500.0)
    assert event.score == 1.0 and event.detector == "range" and event.site == "plant-1"
    assert (event.expected_low, event.expected_high) == (0.0, 100.0)
    assert event.to_dict()["ts"] == 5_000


def test_flagged_readings_are_not_learned(tmp_path: Path):
    clean = _bank(tmp_path / "a", detector="jump")
    spiked = _bank(tmp_path / "b", detector="jump")
    _scores(clean, "d", VALUES[:1000], TS[:1000])
    _scores(spiked, "d", VALUES[:1000], TS[:1000])
    score, event = spiked.step("d", "temp", TS[1000], 1e6)
    assert event is not None and score > 0.99
    # Later scores are exactly those of a stream that never saw the spike.
    assert _scores(spiked, "d", VALUES[1001:1300], TS[1001:1300]) == _scores(
        clean, "d", VALUES[1001:1300], TS[1001:1300]
    )


def test_a_clipping_detector_learns_a_flagged_reading_at_the_threshold_edge(tmp_path: Path):
    clean = _bank(tmp_path / "a", detector="gaussian")
    spiked = _bank(tmp_path / "b", detector="gaussian")
    _scores(clean, "d", VALUES[:1000], TS[:1000])
    _scores(spiked, "d", VALUES[:1000], TS[:1000])
    detector = clean._stream(("d", "temp"), 0.0).detector
    edge = detector.winsorised(1e6, TS[1000], spiked.policy.threshold)
    assert edge is not None and edge < 1e6
    assert detector.score_value(edge, TS[1000]) < spiked.policy.threshold
    assert _scores(clean, "d", [edge], TS[1000:1001])[0] < spiked.policy.threshold
    score, event = spiked.step("d", "temp", TS[1000], 1e6)
    assert event is not None and score == 1.0
    # The model is exactly that of a stream that saw the edge instead of the spike (the
    # spiked stream's alarm starts a refractory period: its scores are damped for a while).
    twin = spiked._stream(("d", "temp"), 0.0).detector
    later = list(zip(VALUES[1001:1300], TS[1001:1300], strict=True))
    assert [twin.step(v, t) for v, t in later] == [detector.step(v, t) for v, t in later]


def test_a_lasting_shift_becomes_the_new_normal(tmp_path: Path):
    bank = _bank(tmp_path, detector="sad", relearn_after=20)
    rng = np.random.default_rng(0)
    for i in range(500):
        bank.observe("d", "t", i, float(rng.normal(10.0, 1.0)))
    events = [bank.observe("d", "t", 500 + i, float(rng.normal(60.0, 1.0))) for i in range(3000)]
    assert events[0] is not None
    assert sum(e is not None for e in events[-500:]) == 0


def test_memory_cap_evicts_least_recently_used_and_restores_it(tmp_path: Path):
    bank = _bank(tmp_path, max_streams=2)
    reference = _bank(tmp_path / "ref", max_streams=10)
    half = 1200
    for device in ("a", "b"):
        _scores(bank, device, VALUES[:half], TS[:half])
        _scores(reference, device, VALUES[:half], TS[:half])
    bank.observe("c", "temp", TS[0], VALUES[0])  # evicts "a", the least recently used
    assert bank.live_streams == 2 and bank.evicted == 1
    assert len(list((tmp_path / "detect").glob("*.state"))) == 1
    later = _scores(bank, "a", VALUES[half:], TS[half:])
    assert bank.restored == 1
    assert later == _scores(reference, "a", VALUES[half:], TS[half:])


def test_idle_streams_are_evicted(tmp_path: Path):
    clock = FakeClock()
    bank = _bank(tmp_path, clock=clock, idle_evict_s=60.0)
    bank.observe("a", "t", 0, 1.0)
    clock.now = 30.0
    bank.observe("b", "t", 0, 1.0)
    clock.now = 75.0
    assert bank.evict_idle() == 1 and bank.live_streams == 1
    clock.now = 200.0
    assert bank.evict_idle() == 1 and bank.live_streams == 0


def test_state_survives_a_restart(tmp_path: Path):
    cut = 1500
    first = _bank(tmp_path)
    reference = _bank(tmp_path / "ref")
    for device in ("a", "b"):
        _scores(first, device, VALUES[:cut], TS[:cut])
        _scores(reference, device, VALUES[:cut], TS[:cut])
    first.stop()
    assert first.live_streams == 0
    second = _bank(tmp_path)
    for device in ("a", "b"):
        expected = _scores(reference, device, VALUES[cut:], TS[cut:])
        assert _scores(second, device, VALUES[cut:], TS[cut:]) == expected
    assert second.restored == 2 and second.discarded == 0


def test_incompatible_state_is_discarded_with_one_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
):
    old = _bank(tmp_path)
    for device in ("a", "b", "c"):
        _scores(old, device, VALUES[:400], TS[:400])
    old.stop()
    monkeypatch.setattr(SentinelDetector, "state_version", SentinelDetector.state_version + 1)
    with caplog.at_level(logging.DEBUG, logger="gateway.detect.bank"):
        new = _bank(tmp_path)
        for device in ("a", "b", "c"):
            new.observe(device, "temp", TS[0], VALUES[0])
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "incompatible version" in warnings[0].getMessage()
    assert new.discarded == 3 and new.restored == 0
    assert not list((tmp_path / "detect").glob("*.state"))


def test_other_detector_and_corrupt_state_are_discarded(tmp_path: Path):
    old = _bank(tmp_path, detector="sentinel")
    _scores(old, "a", VALUES[:50], TS[:50])
    old.stop()
    other = _bank(tmp_path, detector="gaussian")
    other.observe("a", "temp", TS[0], VALUES[0])
    assert other.discarded == 1
    other.stop()
    for path in (tmp_path / "detect").glob("*.state"):
        path.write_bytes(b"\x80\x05not a pickle at all")
    fresh = _bank(tmp_path, detector="gaussian")
    assert fresh.observe("a", "temp", TS[1], VALUES[1]) is None
    assert fresh.discarded == 1


def test_disabled_bank_scores_nothing(tmp_path: Path):
    bank = _bank(tmp_path, enabled=False, detector="range", params={"high": 1.0}, warmup=0)
    assert bank.observe("d", "t", 0, 99.0) is None
    assert bank.live_streams == 0


def test_physical_limits_flag_impossible_readings_even_in_warm_up(tmp_path: Path):
    bank = _bank(tmp_path, limits={"temp": (-40.0, 85.0)}, warmup=1000)
    event = bank.observe("d", "temp", 0, -273.0)
    assert event is not None and event.detector == "range"
    assert (event.expected_low, event.expected_high) == (-40.0, 85.0)
    assert bank.observe("d", "temp", 1, 21.0) is None
    assert bank.observe("d", "hum", 2, -273.0) is None  # no limits for that sensor


def test_limits_must_be_ordered():
    with pytest.raises(ValueError, match=r"low 5\.0 is above high 1\.0"):
        DetectSettings(limits={"temp": (5.0, 1.0)})


def test_checkpoint_saves_without_dropping_and_a_crash_resumes_from_it(tmp_path: Path):
    bank = _bank(tmp_path)
    _scores(bank, "a", VALUES[:1000], TS[:1000])
    assert bank.checkpoint() == 1 and bank.live_streams == 1
    reference = _scores(bank, "a", VALUES[1000:1400], TS[1000:1400])
    # The process dies here without stop(): a new bank resumes from the checkpoint.
    revived = _bank(tmp_path)
    assert _scores(revived, "a", VALUES[1000:1400], TS[1000:1400]) == reference
    assert revived.restored == 1


def test_a_state_dir_that_cannot_be_written_costs_state_not_scoring(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    bank = _bank(tmp_path, max_streams=1)
    state_dir = tmp_path / "detect"
    state_dir.rmdir()
    state_dir.write_text("a file where the directory was")
    with caplog.at_level(logging.WARNING, logger="gateway.detect.bank"):
        for device in ("a", "b", "c"):
            bank.observe(device, "temp", TS[0], VALUES[0])
        bank.stop()
    assert bank.save_errors == 3
    assert len([r for r in caplog.records if "cannot save" in r.getMessage()]) == 1


def _machine(i: int, rng: np.random.Generator, wear: float = 0.0) -> dict[str, float]:
    load = 0.5 + 0.4 * np.sin(i / 150.0)
    return {"current": 10 * load + rng.normal(0, 0.1),
            "vibration": 2 * load + wear + rng.normal(0, 0.05)}


def test_device_detector_is_off_by_default_and_names_the_sensors(tmp_path: Path):
    rng = np.random.default_rng(1)
    off = _bank(tmp_path / "off")
    assert off.observe_device("m", 0, _machine(0, rng)) is None
    bank = _bank(tmp_path / "on", device_detector=True)
    events = [bank.observe_device("m", i * 60_000, _machine(i, rng)) for i in range(1200)]
    assert not any(events)
    worn = [bank.observe_device("m", (1200 + i) * 60_000, _machine(1200 + i, rng, i / 50.0))
            for i in range(100)]
    event = next(e for e in worn if e is not None)
    assert event.device == "m" and "vibration" in event.sensor.split("+")
    assert event.detector == "device:mahalanobis"
    bank.stop()  # saved with the streams, restored on the next message
    again = _bank(tmp_path / "on", device_detector=True)
    again.observe_device("m", 1300 * 60_000, _machine(1300, rng))
    assert again.restored == 1
