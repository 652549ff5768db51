"""Fault spec grammar and injection, driven through the fleet source (no broker)."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from firmware_protocol.codecs import CODEC_NAMES, get_codec
from firmware_protocol.errors import DecodeError
from simulators.errors import ConfigError
from simulators.faults import FaultRule, parse_fault_spec
from simulators.fleet import FleetConfig, FleetSource
from simulators.outgoing import Outgoing, topic_formatter
from simulators.signals import SENSORS

START = 1_700_000_000_000


def _fleet(spec: str, *, devices: int = 10, fmt: str = "json", seed: int = 1) -> FleetSource:
    rules = []
    names = [f"dev-{i:04d}" for i in range(devices)]
    for r in parse_fault_spec(spec):
        dev = names[int(r.device)] if r.device is not None and r.device.isdigit() else r.device
        rules.append(FaultRule(r.kind, r.rate, dev, r.length))
    cfg = FleetConfig(devices=devices, sensors=tuple(SENSORS), rate=100.0, fmt=fmt, qos=1,
                      seed=seed, site="s", start_ms=START, faults=tuple(rules))
    return FleetSource(cfg, get_codec(fmt), topic_formatter())


def _take(source: FleetSource, messages: int) -> list[Outgoing]:
    out: list[Outgoing] = []
    for items in source:
        out.extend(items)
        if source.produced >= messages:
            break
    return out + source.flush()


def _originals(items: list[Outgoing]) -> list[Outgoing]:
    return [o for o in items if not o.duplicate]


def _within(observed: int, n: int, p: float, sigmas: float = 5.0) -> bool:
    return abs(observed - n * p) <= sigmas * math.sqrt(n * p * (1 - p)) + 1


def test_grammar_examples() -> None:
    rules = parse_fault_spec("spike=0.01, dropout@dev-0003/5 ,clock-skew=0.2@7")
    assert rules == (
        FaultRule("spike", 0.01, None, None),
        FaultRule("dropout", None, "dev-0003", 5),
        FaultRule("clock-skew", 0.2, "7", None),
    )
    assert parse_fault_spec("") == ()


@pytest.mark.parametrize(
    ("spec", "complaint"),
    [
        ("sparks=0.1", "KIND"),
        ("spike", "needs a rate"),
        ("spike=2", "between 0 and 1"),
        ("spike=abc", "between 0 and 1"),
        ("spike=0.1/4", "only applies"),
        ("drift=0.1/0", "whole number"),
    ],
)
def test_grammar_errors_say_what_to_fix(spec: str, complaint: str) -> None:
    with pytest.raises(ConfigError, match=complaint):
        parse_fault_spec(spec)


def test_no_faults_means_clean_messages() -> None:
    items = _take(_fleet(""), 500)
    assert len(items) == 500
    assert all(not o.labels and not o.malformed and o.payload for o in items)
    seqs: dict[str, list[int]] = {}
    for o in items:
        seqs.setdefault(o.message.device, []).append(o.message.seq)
    assert all(s == list(range(50)) for s in seqs.values())


@pytest.mark.parametrize("kind", ["spike", "duplicate", "out-of-order", "bad-crc", "truncated",
                                  "wrong-type"])
def test_per_message_fault_rate_within_bounds(kind: str) -> None:
    n, p = 5_000, 0.05
    items = _take(_fleet(f"{kind}={p}"), n)
    hit = sum(1 for o in _originals(items) if kind in o.labels)
    assert _within(hit, n, p), (hit, n * p)


def test_episode_faults_start_at_rate_and_last_len() -> None:
    n, p, length = 5_000, 0.02, 5
    items = _take(_fleet(f"stuck={p}/{length}", devices=1), n)
    labelled = [("stuck" in o.labels) for o in items]
    starts = sum(1 for i, x in enumerate(labelled) if x and (i == 0 or not labelled[i - 1]))
    runs = "".join("1" if x else "0" for x in labelled).split("0")
    assert all(len(r) % length == 0 for r in runs if r)
    # an episode can start only from a message outside one: about n / (1/p + len) starts
    expected_p = 1 / (1 / p + length)
    assert _within(starts, n, expected_p), (starts, n * expected_p)


def test_targeted_faults_hit_only_their_device() -> None:
    items = _take(_fleet("spike@dev-0002,dropout@4/3"), 100)
    spiked = {o.message.device for o in items if "spike" in o.labels}
    assert spiked == {"dev-0002"}
    dropped = [o for o in items if "dropout" in o.labels]
    assert {o.message.device for o in dropped} == {"dev-0004"}
    assert [o.message.seq for o in dropped] == [0, 1, 2]
    assert all(o.payload is None for o in dropped)


def test_stuck_repeats_drift_grows_spike_jumps() -> None:
    items = _take(_fleet("stuck@0,drift@1,spike@2", devices=3), 60)
    by_dev: dict[str, list[Outgoing]] = {}
    for o in items:
        by_dev.setdefault(o.message.device, []).append(o)
    stuck_sensor = next(iter(by_dev["dev-0000"][0].reading_faults))
    stuck_values = {dict((r.sensor, r.value) for r in o.message.readings)[stuck_sensor]
                    for o in by_dev["dev-0000"]}
    assert len(stuck_values) == 1
    drift_sensor = next(iter(by_dev["dev-0001"][0].reading_faults))
    clean = _take(_fleet("", devices=3), 60)
    clean_by = {(o.message.device, o.message.seq): o for o in clean}
    offsets = []
    for o in by_dev["dev-0001"]:
        ref = clean_by[(o.message.device, o.message.seq)].message.readings
        got = dict((r.sensor, r.value) for r in o.message.readings)[drift_sensor]
        offsets.append(got - dict((r.sensor, r.value) for r in ref)[drift_sensor])
    assert offsets == sorted(offsets) and offsets[-1] > 0.3 * SENSORS[drift_sensor].scale
    for o in by_dev["dev-0002"]:
        (sensor,) = o.reading_faults
        ref = dict((r.sensor, r.value) for r in clean_by[(o.message.device, o.message.seq)]
                   .message.readings)
        got = dict((r.sensor, r.value) for r in o.message.readings)
        assert abs(got[sensor] - ref[sensor]) >= 5 * SENSORS[sensor].scale


def test_duplicate_and_out_of_order_are_recorded() -> None:
    items = _take(_fleet("duplicate@0,out-of-order@1", devices=2), 10)
    dev0 = [(o.message.seq, o.duplicate) for o in items if o.message.device == "dev-0000"]
    assert dev0 == [(s, d) for s in range(5) for d in (False, True)]
    dev1 = [o for o in items if o.message.device == "dev-0001"]
    # seq 0 is held back until seq 1 went out; one message is held at a time
    assert [o.message.seq for o in dev1] == [1, 0, 3, 2, 4]
    assert [o.message.seq for o in dev1 if "out-of-order" in o.labels] == [0, 2, 4]


def test_clock_skew_shifts_timestamps_by_an_hour() -> None:
    skewed = _take(_fleet("clock-skew@0/4", devices=1), 8)
    clean = _take(_fleet("", devices=1), 8)
    shifts = [a.message.ts_ms - b.message.ts_ms for a, b in zip(skewed, clean, strict=True)]
    assert {abs(s) for s in shifts[:4]} == {3_600_001} and shifts[4:] == [0] * 4


@pytest.mark.parametrize("fmt", CODEC_NAMES)
@pytest.mark.parametrize("kind", ["bad-crc", "truncated", "wrong-type"])
def test_malformed_payloads_are_rejected_by_the_codec(fmt: str, kind: str) -> None:
    codec = get_codec(fmt)
    items = _take(_fleet(f"{kind}=0.5", fmt=fmt), 200)
    bad = [o for o in items if o.malformed]
    good = [o for o in items if not o.malformed]
    assert bad and good
    for o in bad:
        assert o.payload is not None
        with pytest.raises(DecodeError):
            codec.decode(o.payload)
    for o in good:
        assert o.payload is not None
        assert codec.decode(o.payload) == o.message


def test_labels_counted_once_per_message() -> None:
    items = _take(_fleet("spike=0.3,duplicate=0.3,dropout=0.05/2,bad-crc=0.2,truncated=0.2"),
                  2000)
    for o in items:
        assert len(o.labels) == len(set(o.labels))
        assert not (o.payload is None and (o.malformed or o.duplicate))
        assert sum(k in o.labels for k in ("bad-crc", "truncated")) <= 1
    assert Counter(o.labels[0] for o in items if o.labels)


def test_no_two_messages_of_a_device_share_a_timestamp() -> None:
    # one device, one message a second for 2.2 hours: +-1 h skews overlap the regular grid
    rules = tuple(parse_fault_spec("clock-skew=0.05/10,out-of-order=0.05,duplicate=0.05"))
    cfg = FleetConfig(devices=1, sensors=("current",), rate=1.0, fmt="json", qos=1, seed=4,
                      site="s", start_ms=START, faults=rules)
    items = _take(FleetSource(cfg, get_codec("json"), topic_formatter()), 8000)
    sent = [o for o in items if o.payload is not None and not o.duplicate]
    assert sum("clock-skew" in o.labels for o in sent) > 500
    stamps = Counter(o.message.ts_ms for o in sent)
    assert stamps.most_common(1)[0][1] == 1
