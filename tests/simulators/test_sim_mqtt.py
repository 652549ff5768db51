"""``iotgw sim run`` against a real Mosquitto: what the manifest says is what a subscriber gets."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from firmware_protocol.codec import DecodeContext
from firmware_protocol.codecs import CODEC_NAMES, get_codec
from firmware_protocol.errors import DecodeError
from firmware_protocol.model import Message
from firmware_protocol.topics import TopicTemplate
from iotgw.cli import main
from simulators.manifest import (
    dead_letter_count,
    expected_dead_letters,
    expected_readings,
    expected_values,
    read_manifest,
)
from tests.simulators.collector import Collector
from tests.support.servers import Mosquitto, free_port

pytestmark = pytest.mark.integration

FAULTS = (
    "spike=0.05,duplicate=0.05,out-of-order=0.05,bad-crc=0.03,truncated=0.03,wrong-type=0.03,"
    "dropout=0.01/3,clock-skew=0.01/3,stuck@dev-0001,drift=0.02/5"
)


@pytest.fixture
def collector(mosquitto: Mosquitto) -> Iterator[Collector]:
    c = Collector(mosquitto.host, mosquitto.port)
    c.start()
    try:
        yield c
    finally:
        c.stop()


def _sim(*args: str) -> int:
    return main(["sim", *args])


def _decode(topic: str, payload: bytes) -> tuple[str, Message | None]:
    tags = TopicTemplate().match(topic)
    assert tags is not None
    codec = get_codec(tags["format"])
    try:
        return tags["device"], codec.decode(payload, DecodeContext(tags["device"], tags["site"]))
    except DecodeError:
        return tags["device"], None


@pytest.mark.parametrize("fmt", CODEC_NAMES)
def test_subscriber_receives_exactly_what_the_manifest_acknowledged(
    mosquitto: Mosquitto, collector: Collector, tmp_path: Path, fmt: str
) -> None:
    manifest = tmp_path / "m.jsonl"
    code = _sim("run", "--broker", mosquitto.url, "--devices", "7", "--count", "400",
                "--rate", "0", "--format", fmt, "--seed", "3", "--faults", FAULTS,
                "--manifest", str(manifest), "--site", "plant-a")
    assert code == 0
    lines = list(read_manifest(manifest))
    sent = [ln for ln in lines if ln["sent"]]
    assert all(ln["acked"] for ln in sent)
    assert [ln["n"] for ln in lines] == list(range(len(lines)))
    received = collector.wait_for(len(sent))
    assert len(received) == len(sent)

    decoded = [_decode(t, p) for t, p in received]
    # well-formed: same (device, seq) multiset (duplicates twice), same values and timestamps
    got = Counter((dev, m.seq) for dev, m in decoded if m is not None)
    want = Counter((ln["device"], ln["seq"]) for ln in sent if not ln["malformed"])
    assert got == want
    values = expected_values(manifest)
    for _dev, m in decoded:
        if m is not None:
            for r in m.readings:
                key = (m.device, m.seq, r.sensor)
                assert values[key] == (m.reading_ts_ms(r), r.value)
    # malformed: each acknowledged one arrives and fails to decode
    bad = Counter(dev for dev, m in decoded if m is None)
    assert bad == Counter(ln["device"] for ln in sent if ln["malformed"])
    assert sum(bad.values()) == dead_letter_count(manifest) > 0
    assert len(expected_dead_letters(manifest)) <= dead_letter_count(manifest)
    # per device, the broker delivered in send order (so out-of-order swaps arrive swapped)
    for device in {ln["device"] for ln in sent}:
        order_sent = [ln["seq"] for ln in sent if ln["device"] == device and not ln["malformed"]]
        order_got = [m.seq for dev, m in decoded if dev == device and m is not None]
        assert order_got == order_sent
    assert any("out-of-order" in ln["faults"] for ln in sent)
    assert any(ln["duplicate"] for ln in sent)
    # expected readings: a duplicate counts once; malformed and silent ones not at all
    keys = expected_readings(manifest)
    assert len(keys) == len(values) == 5 * len(want)


def test_same_seed_same_messages(mosquitto: Mosquitto, collector: Collector,
                                 tmp_path: Path) -> None:
    args = ["run", "--broker", mosquitto.url, "--devices", "4", "--count", "120", "--rate",
            "2000", "--seed", "11", "--start", "2024-05-01T12:00:00Z", "--format", "binary",
            "--faults", "spike=0.1,duplicate=0.1,truncated=0.05,dropout=0.02"]
    assert _sim(*args, "--manifest", str(tmp_path / "a.jsonl")) == 0
    first = collector.wait_for(sum(1 for ln in read_manifest(tmp_path / "a.jsonl")
                                   if ln["sent"]))
    collector.messages.clear()
    assert _sim(*args, "--manifest", str(tmp_path / "b.jsonl")) == 0
    second = collector.wait_for(len(first))
    assert first == second
    assert list(read_manifest(tmp_path / "a.jsonl")) == list(read_manifest(tmp_path / "b.jsonl"))
    other = ["--seed", "12", "--manifest", str(tmp_path / "c.jsonl")]
    collector.messages.clear()
    assert _sim(*args, *other) == 0
    assert collector.wait_for(len(first)) != first


def test_fault_rates_match_the_request(mosquitto: Mosquitto, tmp_path: Path) -> None:
    n, p = 3000, 0.04
    manifest = tmp_path / "m.jsonl"
    faults = f"spike={p},duplicate={p},bad-crc={p},out-of-order={p}"
    assert _sim("run", "--broker", mosquitto.url, "--devices", "20", "--count", str(n),
                "--rate", "0", "--faults", faults, "--manifest", str(manifest)) == 0
    originals = [ln for ln in read_manifest(manifest) if not ln["duplicate"]]
    assert len(originals) == n
    bound = 5 * math.sqrt(n * p * (1 - p))
    for kind in ("spike", "duplicate", "bad-crc", "out-of-order"):
        hits = sum(1 for ln in originals if kind in ln["faults"])
        # out-of-order is dropped when the device already holds one back: a little below p
        assert abs(hits - n * p) <= bound + (n * p * p if kind == "out-of-order" else 0), kind
    assert sum(1 for ln in read_manifest(manifest) if ln["duplicate"]) == sum(
        1 for ln in originals if "duplicate" in ln["faults"]
    )


def test_per_device_connections_and_degradation(mosquitto: Mosquitto, collector: Collector,
                                                tmp_path: Path) -> None:
    manifest = tmp_path / "m.jsonl"
    assert _sim("run", "--broker", mosquitto.url, "--devices", "50", "--connections",
                "per-device", "--rate", "500", "--duration", "1", "--degrade", "dev-0003:0.5",
                "--format", "senml-cbor", "--manifest", str(manifest)) == 0
    lines = list(read_manifest(manifest))
    assert len(lines) == 500 and all(ln["acked"] for ln in lines)
    assert len(collector.wait_for(500)) == 500
    wear = [ln["degradation"] for ln in lines if ln["device"] == "dev-0003"]
    assert wear == sorted(wear) and wear[-1] == 1.0
    assert all(ln["degradation"] is None for ln in lines if ln["device"] != "dev-0003")


def test_qos0_records_socket_writes(mosquitto: Mosquitto, tmp_path: Path) -> None:
    manifest = tmp_path / "m.jsonl"
    assert _sim("run", "--broker", mosquitto.url, "--qos", "0", "--count", "50", "--rate", "0",
                "--manifest", str(manifest)) == 0
    lines = list(read_manifest(manifest))
    assert len(lines) == 50 and all(ln["acked"] and ln["qos"] == 0 for ln in lines)


def test_unreachable_broker_is_one_clear_line_and_exit_3(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    out = subprocess.run(
        [sys.executable, "-m", "iotgw.cli", "sim", "run", "--broker",
         f"mqtt://127.0.0.1:{port}", "--count", "5", "--manifest", str(tmp_path / "m.jsonl")],
        capture_output=True, text=True, timeout=60,
        env=os.environ | {"PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    assert out.returncode == 3
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot reach the MQTT broker" in lines[0], out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["--faults", "spike"], "needs a rate"),
        (["--faults", "spike@dev-9999"], "no device"),
        (["--degrade", "dev-0001"], "--degrade"),
        (["--sensors", "torque"], "unknown sensor"),
        (["--broker", "http://x"], "--broker"),
        (["--start", "yesterday"], "--start"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(
    args: list[str], complaint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _sim("run", "--broker", "mqtt://127.0.0.1:1", "--count", "1", *args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and complaint in err[0]


@pytest.mark.slow
def test_thousand_devices_one_connection_each(mosquitto: Mosquitto, collector: Collector,
                                              tmp_path: Path) -> None:
    manifest = tmp_path / "m.jsonl"
    assert _sim("run", "--broker", mosquitto.url, "--devices", "1000", "--connections",
                "per-device", "--count", "3000", "--rate", "0", "--format", "binary",
                "--manifest", str(manifest)) == 0
    lines = list(read_manifest(manifest))
    assert len(lines) == 3000 and all(ln["acked"] for ln in lines)
    received = collector.wait_for(3000)
    assert Counter(t for t, _ in received) == Counter(ln["topic"] for ln in lines)
    log = mosquitto.log_path.read_text()
    clients = {ln.split(" as ")[1].split()[0] for ln in log.splitlines()
               if "New client connected" in ln and " as iotgw-sim-" in ln}
    assert len(clients) == 1000


def test_duration_as_fast_as_possible_stops_on_time(mosquitto: Mosquitto, tmp_path: Path) -> None:
    manifest = tmp_path / "m.jsonl"
    assert _sim("run", "--broker", mosquitto.url, "--rate", "0", "--duration", "0.5",
                "--manifest", str(manifest)) == 0
    lines = list(read_manifest(manifest))
    assert lines and all(ln["acked"] for ln in lines)
    ts = [ln["ts"] for ln in lines]
    assert ts == sorted(ts)  # wall-clock timestamps, strictly increasing per device
