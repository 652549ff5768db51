"""The simulator across a broker restart and a SIGTERM (real Mosquitto, real processes)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from simulators.manifest import read_manifest
from tests.simulators.collector import Collector
from tests.support.servers import Mosquitto

pytestmark = [pytest.mark.integration, pytest.mark.faults]

ROOT = Path(__file__).resolve().parents[2]


def _start_sim(url: str, manifest: Path, *extra: str) -> subprocess.Popen[str]:
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "iotgw.cli", "sim", "run", "--broker", url,
         "--devices", "5", "--manifest", str(manifest), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )


def _wait_lines(manifest: Path, count: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if manifest.exists() and len(manifest.read_text().splitlines()) >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"manifest did not reach {count} lines")


class _Persistent(Collector):
    """A subscriber with a persistent session, so the broker keeps its messages across restarts."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(host, port)
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                   client_id="resilience-collector", clean_session=False)
        self._client.on_connect = lambda c, u, f, rc, p: c.subscribe("sensors/#", qos=1)
        self._client.on_subscribe = lambda c, u, mid, rcs, p: self._subscribed.set()
        self._client.on_message = self._on_message
        self._client.reconnect_delay_set(0.1, 0.5)


def test_every_acknowledged_publish_survives_a_broker_restart(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    collector = _Persistent(mosquitto.host, mosquitto.port)
    collector.start()
    manifest = tmp_path / "m.jsonl"
    sim = _start_sim(mosquitto.url, manifest, "--rate", "200", "--count", "900",
                     "--ack-timeout", "20")
    try:
        _wait_lines(manifest, 150)
        mosquitto.restart()
        out, err = sim.communicate(timeout=60)
    finally:
        if sim.poll() is None:
            sim.kill()
            sim.communicate()
    assert sim.returncode in (0, 1), err
    lines = list(read_manifest(manifest))
    assert len(lines) == 900
    acked = {(ln["device"], ln["seq"]) for ln in lines if ln["acked"]}
    assert len(acked) > 450  # the run went on after the restart
    assert "error(s)" in out and " 0 error(s)" not in out  # the lost connection was counted
    received = collector.wait_for(len(acked), timeout=30)
    collector.stop()
    from firmware_protocol.codecs import get_codec

    codec = get_codec("json")
    got = {(m.device, m.seq) for m in (codec.decode(p) for _t, p in received)}
    assert acked <= got


def test_sigterm_stops_cleanly_with_a_complete_manifest(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    manifest = tmp_path / "m.jsonl"
    sim = _start_sim(mosquitto.url, manifest, "--rate", "100", "--duration", "60")
    try:
        _wait_lines(manifest, 50)
        sim.send_signal(signal.SIGTERM)
        out, err = sim.communicate(timeout=30)
    finally:
        if sim.poll() is None:
            sim.kill()
            sim.communicate()
    assert sim.returncode == 130
    assert "interrupted" in err and "Traceback" not in err
    lines = list(read_manifest(manifest))
    assert [ln["n"] for ln in lines] == list(range(len(lines)))
    assert f"published {len(lines)} message(s)" in out
    assert all(ln["acked"] for ln in lines)


def test_a_broker_that_dies_mid_run_stops_the_run_with_one_line(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    manifest = tmp_path / "m.jsonl"
    sim = _start_sim(mosquitto.url, manifest, "--rate", "0", "--count", "1000000",
                     "--ack-timeout", "1")
    try:
        _wait_lines(manifest, 1000)
        mosquitto.kill()
        out, err = sim.communicate(timeout=60)
    finally:
        if sim.poll() is None:
            sim.kill()
            sim.communicate()
    assert sim.returncode == 3, err
    err_lines = err.strip().splitlines()
    assert len(err_lines) == 1 and "acknowledged nothing for 1 s" in err_lines[0], err
    lines = list(read_manifest(manifest))
    assert [ln["n"] for ln in lines] == list(range(len(lines)))
    assert lines[-1]["acked"] is False
    assert f"published {len(lines)} message(s)" in out
