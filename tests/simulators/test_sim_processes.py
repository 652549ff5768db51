"""``iotgw sim run --processes N`` against a real Mosquitto: several publishing processes, one
merged manifest, the same messages as one process, and one stop for all of them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from firmware_protocol.codec import DecodeContext
from firmware_protocol.codecs import get_codec
from firmware_protocol.errors import DecodeError
from firmware_protocol.topics import TopicTemplate
from iotgw.cli import main
from simulators.manifest import (
    dead_letter_count,
    expected_readings,
    expected_values,
    manifest_files,
    manifest_lines,
    part_path,
    read_manifest,
)
from tests.simulators.collector import Collector
from tests.support.servers import Mosquitto, free_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
FAULTS = "spike=0.05,duplicate=0.05,out-of-order=0.05,bad-crc=0.03,truncated=0.03,dropout=0.01/3"
FLEET = ["--devices", "9", "--count", "600", "--rate", "3000", "--seed", "21",
         "--start", "2024-05-01T12:00:00Z", "--faults", FAULTS]


def _without_n(line: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(sorted((k, repr(v)) for k, v in line.items() if k != "n"))


def test_two_processes_publish_exactly_what_the_merged_manifest_acknowledged(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    collector = Collector(mosquitto.host, mosquitto.port)
    collector.start()
    try:
        manifest = tmp_path / "m.jsonl"
        assert main(["sim", "run", "--broker", mosquitto.url, *FLEET, "--processes", "2",
                     "--manifest", str(manifest)]) == 0
        assert manifest_files(manifest) == [part_path(manifest, 0), part_path(manifest, 1)]
        assert not manifest.exists()
        lines = list(read_manifest(manifest))
        sent = [ln for ln in lines if ln["sent"]]
        assert sent and all(ln["acked"] for ln in sent)
        received = collector.wait_for(len(sent))
    finally:
        collector.stop()
    assert len(received) == len(sent)
    codec = get_codec("json")
    values = expected_values(manifest)
    got: Counter[tuple[str, int]] = Counter()
    bad = 0
    for topic, payload in received:
        tags = TopicTemplate().match(topic)
        assert tags is not None
        try:
            m = codec.decode(payload, DecodeContext(tags["device"], tags["site"]))
        except DecodeError:
            bad += 1
            continue
        got[(m.device, m.seq)] += 1
        for r in m.readings:
            assert values[(m.device, m.seq, r.sensor)] == (
                m.reading_ts_ms(r), r.value)
    assert got == Counter((ln["device"], ln["seq"]) for ln in sent if not ln["malformed"])
    assert bad == dead_letter_count(manifest) > 0
    # each device's messages came from one process: process p holds the devices i % 2 == p
    for p in (0, 1):
        devices = {ln["device"] for ln in read_manifest(part_path(manifest, p))}
        assert all(int(d.split("-")[1]) % 2 == p for d in devices)


def test_same_seed_same_messages_whatever_the_number_of_processes(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    runs = {}
    for processes in (1, 3):
        manifest = tmp_path / f"p{processes}.jsonl"
        assert main(["sim", "run", "--broker", mosquitto.url, *FLEET, "--processes",
                     str(processes), "--manifest", str(manifest)]) == 0
        runs[processes] = Counter(_without_n(ln) for ln in read_manifest(manifest))
        assert expected_readings(manifest)
    assert runs[1] == runs[3]
    assert sum(runs[1].values()) > 600  # duplicates included


def test_a_rerun_with_fewer_processes_leaves_no_stale_parts(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    manifest = tmp_path / "m.jsonl"
    base = ["sim", "run", "--broker", mosquitto.url, "--count", "40", "--rate", "0",
            "--manifest", str(manifest)]
    assert main([*base, "--processes", "4"]) == 0
    assert len(manifest_files(manifest)) == 4
    assert main([*base, "--processes", "2"]) == 0
    assert manifest_files(manifest) == [part_path(manifest, 0), part_path(manifest, 1)]
    assert main(base) == 0
    assert manifest_files(manifest) == [manifest] and manifest_lines(manifest) == 40


def _children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def test_sigterm_stops_every_process_with_complete_manifests(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    manifest = tmp_path / "m.jsonl"
    sim = subprocess.Popen(
        [sys.executable, "-m", "iotgw.cli", "sim", "run", "--broker", mosquitto.url,
         "--devices", "6", "--rate", "300", "--duration", "120", "--processes", "3",
         "--manifest", str(manifest)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=os.environ | {"PYTHONPATH": str(ROOT)},
    )
    try:
        deadline = time.monotonic() + 30
        while manifest_lines(manifest) < 60 and time.monotonic() < deadline:
            time.sleep(0.05)
        children = _children(sim.pid)
        assert len(children) >= 3  # the publishers (and multiprocessing's resource tracker)
        sim.send_signal(signal.SIGTERM)
        out, err = sim.communicate(timeout=60)
    finally:
        if sim.poll() is None:
            sim.kill()
            sim.communicate()
    assert sim.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    deadline = time.monotonic() + 30  # reaped by the parent; a bounded wait, not a timing check
    while any(Path(f"/proc/{pid}").exists() for pid in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(Path(f"/proc/{pid}").exists() for pid in children)
    lines = list(read_manifest(manifest))
    assert f"published {len(lines)} message(s)" in out
    assert all(ln["acked"] for ln in lines)
    for p in range(3):  # every part is whole: send indexes 0..k-1
        part = [ln["n"] for ln in read_manifest(part_path(manifest, p))]
        assert part == list(range(len(part))) and part


def test_unreachable_broker_is_one_line_and_exit_3_from_all_processes(tmp_path: Path) -> None:
    port = free_port()
    out = subprocess.run(
        [sys.executable, "-m", "iotgw.cli", "sim", "run", "--broker",
         f"mqtt://127.0.0.1:{port}", "--count", "50", "--processes", "3",
         "--manifest", str(tmp_path / "m.jsonl")],
        capture_output=True, text=True, timeout=60,
        env=os.environ | {"PYTHONPATH": str(ROOT)},
    )
    assert out.returncode == 3
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot reach the MQTT broker" in lines[0], out.stderr
