"""Fault injection: the gateway as a real process, a real Mosquitto, the simulator's manifest.

Every reading the simulator got a PUBACK for must reach the cloud side, whatever happens in
between: the gateway killed with SIGKILL (also while its intake log holds acknowledged messages
the processing stage has not reached), the cloud down, the broker restarting. When the buffer
bound forces drops, the readings missing at the cloud are exactly the ones counted as dropped,
also when batches were in flight while the drops happened.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from simulators.manifest import (
    dead_letter_count,
    expected_readings,
    published_readings,
    read_manifest,
)
from tests.gateway.helpers import finish_sim, gateway_config, run_sim, wait_until
from tests.support.cloud_sink import CloudSink
from tests.support.processes import GatewayProcess
from tests.support.servers import Mosquitto

pytestmark = [pytest.mark.integration, pytest.mark.faults]


@pytest.fixture
def gateway(tmp_path: Path, mosquitto: Mosquitto, sink: CloudSink,
            request: pytest.FixtureRequest) -> Iterator[GatewayProcess]:
    extra = getattr(request, "param", {})
    cfg = gateway_config(tmp_path, mosquitto, sink.url, sink.token, **extra)
    gw = GatewayProcess(tmp_path, cfg)
    gw.start(timeout=30.0)
    yield gw
    gw.kill()


@pytest.mark.parametrize("gateway", [{}, {"detect": {"enabled": True, "worker": True}}],
                         indirect=True,
                         ids=["inline", "score-worker"])
def test_kill_9_mid_stream_loses_no_acknowledged_reading(
        tmp_path: Path, mosquitto: Mosquitto, sink: CloudSink, gateway: GatewayProcess) -> None:
    manifest = tmp_path / "run.jsonl"
    sim = run_sim(mosquitto, manifest, "--devices", "10", "--rate", "400", "--count", "3000",
                  "--seed", "7")
    for threshold in (400, 1200):  # kill it twice while the fleet keeps publishing
        assert sink.wait_for(lambda t=threshold: len(sink.keys()) > t, 60)
        gateway.kill()
        gateway.start()
    finish_sim(sim, manifest)
    want = expected_readings(manifest)
    assert len(want) > 5000
    assert sink.wait_for(lambda: sink.keys() >= want, 90), len(want - sink.keys())
    assert sink.keys() <= published_readings(manifest)
    assert not sink.duplicates()  # a batch a kill left unsettled goes again as itself
    assert gateway.stop() == 0


@pytest.mark.parametrize("gateway", [{"uplink": {"max_batch_rows": 20, "max_in_flight": 4}}],
                         indirect=True)
def test_kill_9_with_several_batches_in_flight_loses_nothing(
        tmp_path: Path, mosquitto: Mosquitto, sink: CloudSink, gateway: GatewayProcess) -> None:
    manifest = tmp_path / "run.jsonl"
    sink.delay = 0.3  # each request waits at the cloud: several are on their way at once
    sim = run_sim(mosquitto, manifest, "--devices", "8", "--rate", "400", "--count", "3000",
                  "--seed", "29")
    for threshold in (300, 1500):
        assert sink.wait_for(lambda t=threshold: len(sink.keys()) > t, 60)
        assert sink.wait_for(lambda: sink.open_connections >= 3, 30)
        gateway.kill()  # mid-pipeline: batches sent, stored or not, none settled
        gateway.start()
    sink.delay = 0.0
    finish_sim(sim, manifest)
    want = expected_readings(manifest)
    assert sink.wait_for(lambda: sink.keys() >= want, 90), len(want - sink.keys())
    assert sink.keys() <= published_readings(manifest)
    assert not sink.duplicates()
    assert wait_until(lambda: gateway.metric("iotgw_gateway_buffer_rows") == 0, 30)
    assert gateway.stop() == 0


def test_cloud_outage_buffers_then_drains_without_duplicates(
        tmp_path: Path, mosquitto: Mosquitto, sink: CloudSink, gateway: GatewayProcess) -> None:
    manifest = tmp_path / "run.jsonl"
    sink.mode, sink.retry_after = "503", 1
    sim = run_sim(mosquitto, manifest, "--devices", "8", "--rate", "0", "--count", "1500",
                  "--seed", "3")
    assert wait_until(lambda: gateway.metric("iotgw_gateway_uplink_retries_total") >= 1, 30)
    sink.mode = "hang"  # then it stops answering (the gateway times out after 2 s)
    assert wait_until(lambda: gateway.metric("iotgw_gateway_uplink_retries_total") >= 3, 30)
    sink.down()  # then it disappears altogether (connection refused)
    finish_sim(sim, manifest)
    want = expected_readings(manifest)
    assert wait_until(lambda: gateway.metric("iotgw_gateway_buffer_rows") >= 1500, 60)
    assert not sink.keys()
    sink.mode = "ok"
    sink.up()
    assert sink.wait_for(lambda: sink.keys() >= want, 90), len(want - sink.keys())
    assert wait_until(lambda: gateway.metric("iotgw_gateway_buffer_rows") == 0, 30)
    assert not sink.duplicates()
    m = gateway.metrics_by_label()
    assert m['iotgw_gateway_uplink_batches_total{outcome="failed"}'] >= 1
    assert gateway.stop() == 0


def test_broker_restart_gateway_reconnects_and_nothing_is_lost(
        tmp_path: Path, mosquitto: Mosquitto, sink: CloudSink, gateway: GatewayProcess) -> None:
    manifest = tmp_path / "run.jsonl"
    sim = run_sim(mosquitto, manifest, "--devices", "6", "--rate", "300", "--count", "2400",
                  "--seed", "5")
    assert sink.wait_for(lambda: len(sink.keys()) > 600, 60)
    mosquitto.restart()
    assert sink.wait_for(lambda: len(sink.keys()) > 2400, 60)
    mosquitto.restart()
    finish_sim(sim, manifest)
    want = expected_readings(manifest)
    assert sink.wait_for(lambda: sink.keys() >= want, 90), len(want - sink.keys())
    assert gateway.ready()
    assert gateway.metric("iotgw_gateway_broker_connected") == 1
    assert not sink.duplicates()


@pytest.mark.parametrize("gateway", [{"buffer": {"max_bytes": 60_000}}], indirect=True)
def test_buffer_bound_drops_exactly_what_it_counts(
        tmp_path: Path, mosquitto: Mosquitto, sink: CloudSink, gateway: GatewayProcess) -> None:
    manifest = tmp_path / "run.jsonl"
    sink.down()
    sim = run_sim(mosquitto, manifest, "--devices", "5", "--rate", "0", "--count", "2000",
                  "--seed", "11")
    finish_sim(sim, manifest)
    want = expected_readings(manifest)
    assert wait_until(
        lambda: gateway.metric('iotgw_gateway_messages_total{outcome="buffered"}') >= 2000, 60)
    dropped = gateway.metric('iotgw_gateway_dropped_readings_total{reason="overflow"}')
    assert dropped > 0
    sink.up()
    assert wait_until(lambda: gateway.metric("iotgw_gateway_buffer_rows") == 0, 60)
    missing = want - sink.keys()
    assert len(missing) == dropped
    assert not sink.duplicates()
    # The oldest went first: a missing reading is older (lower seq) than every stored one of
    # the same device, but for rows the uplink had in flight when the buffer overflowed (never
    # dropped: the drop count must stay exact), at most its batches in flight.
    spared = set()
    for device in {d for d, _, _ in want}:
        lost = sorted(s for d, s, _ in missing if d == device)
        kept = sorted(s for d, s, _ in sink.stored if d == device)
        if lost:
            assert lost[len(lost) // 2] < kept[len(kept) // 2]
            spared |= {(device, s) for s in kept if s < lost[-1]}
    assert len(spared) <= 2 * 200  # uplink.max_in_flight x uplink.max_batch_rows (messages)


@pytest.mark.parametrize("gateway", [{"buffer": {"max_bytes": 60_000,
                                                 "overflow": "backpressure"}}], indirect=True)
def test_backpressure_stops_acknowledging_and_loses_nothing(
        tmp_path: Path, mosquitto: Mosquitto, sink: CloudSink, gateway: GatewayProcess) -> None:
    manifest, late = tmp_path / "run.jsonl", tmp_path / "late.jsonl"
    sink.down()
    sim = run_sim(mosquitto, manifest, "--devices", "5", "--rate", "0", "--count", "1500",
                  "--seed", "13")
    finish_sim(sim, manifest)
    # The buffer fills (the intake may have acknowledged every message before it did: the
    # processing stage fills the buffer behind the intake log); whatever arrives now must wait.
    assert wait_until(lambda: gateway.metric("iotgw_gateway_buffer_bytes") >= 60_000, 30)
    sim = run_sim(mosquitto, late, "--devices", "5", "--rate", "0", "--count", "500",
                  "--seed", "14", "--device-prefix", "late-")
    finish_sim(sim, late)
    assert wait_until(lambda: gateway.metric("iotgw_gateway_backpressure_waits_total") > 0, 30)
    buffered = gateway.metric('iotgw_gateway_messages_total{outcome="buffered"}')
    assert buffered < 2000  # the rest waits, unacknowledged, at the broker
    sink.up()
    want = expected_readings(manifest) | expected_readings(late)
    assert sink.wait_for(lambda: sink.keys() >= want, 90), len(want - sink.keys())
    assert gateway.metric('iotgw_gateway_dropped_readings_total{reason="overflow"}') == 0
    assert not sink.duplicates()


def test_malformed_payloads_interleaved_are_dead_lettered_with_reasons(
        tmp_path: Path, mosquitto: Mosquitto, sink: CloudSink, gateway: GatewayProcess) -> None:
    manifest = tmp_path / "run.jsonl"
    sim = run_sim(mosquitto, manifest, "--devices", "6", "--rate", "0", "--count", "1200",
                  "--seed", "17", "--format", "binary",
                  "--faults", "bad-crc=0.03,truncated=0.03,wrong-type=0.03,duplicate=0.02")
    finish_sim(sim, manifest)
    want = expected_readings(manifest)
    assert sink.wait_for(lambda: sink.keys() >= want, 60), len(want - sink.keys())
    assert sink.keys() <= published_readings(manifest)
    n_bad = dead_letter_count(manifest)
    assert n_bad > 0
    dead = "iotgw_gateway_dead_letters_total"
    assert wait_until(lambda: sum(v for k, v in gateway.metrics_by_label().items()
                                  if k.startswith(dead)) == n_bad, 30)
    reasons = {k for k in gateway.metrics_by_label() if k.startswith(dead)}
    assert any("bad_checksum" in r for r in reasons) and any("truncated" in r for r in reasons)
    dups = sum(1 for line in read_manifest(manifest)
               if line.get("duplicate") and not line.get("malformed") and line.get("acked"))
    assert gateway.metric('iotgw_gateway_messages_total{outcome="duplicate"}') >= dups > 0
    assert not sink.duplicates()


def unprocessed_in_log(data_dir: Path) -> int:
    """Entries in the intake log (acknowledged; not trimmed, so not yet known processed)."""
    conn = sqlite3.connect(f"file:{data_dir / 'intake.db'}?mode=ro", uri=True, timeout=5)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM intake_log").fetchone()[0])
    finally:
        conn.close()


def test_kill_9_while_the_log_holds_unprocessed_entries_loses_nothing(
        tmp_path: Path, mosquitto: Mosquitto, sink: CloudSink, gateway: GatewayProcess) -> None:
    manifest = tmp_path / "run.jsonl"
    sim = run_sim(mosquitto, manifest, "--devices", "6", "--rate", "300", "--count", "3000",
                  "--seed", "23")
    assert sink.wait_for(lambda: len(sink.keys()) > 300, 60)
    data = Path(gateway.config["gateway"]["data_dir"])
    # Hold the gateway database's write lock: the processing stage cannot commit, while the
    # intake keeps appending to its own log and acknowledging. Then kill it.
    lock = sqlite3.connect(data / "gateway.db", timeout=30, isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")
    try:
        assert wait_until(lambda: unprocessed_in_log(data) >= 300, 30)
        gateway.kill()
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    assert unprocessed_in_log(data) >= 300
    gateway.start()
    finish_sim(sim, manifest)
    want = expected_readings(manifest)
    assert sink.wait_for(lambda: sink.keys() >= want, 90), len(want - sink.keys())
    assert sink.keys() <= published_readings(manifest)
    assert not sink.duplicates()
    assert wait_until(lambda: gateway.metric("iotgw_gateway_log_backlog_messages") == 0, 30)
    assert gateway.stop() == 0


@pytest.mark.parametrize("gateway", [{"buffer": {"max_bytes": 60_000},
                                      "uplink": {"max_batch_rows": 50, "timeout_s": 5}}],
                         indirect=True)
def test_overflow_during_an_outage_with_batches_in_flight_counts_exactly(
        tmp_path: Path, mosquitto: Mosquitto, sink: CloudSink, gateway: GatewayProcess) -> None:
    manifest = tmp_path / "run.jsonl"
    sink.delay = 0.5  # every batch is in flight half a second, then stored: the drops race it
    sim = run_sim(mosquitto, manifest, "--devices", "5", "--rate", "200", "--count", "7000",
                  "--seed", "19")
    dropped = 'iotgw_gateway_dropped_readings_total{reason="overflow"}'
    assert wait_until(lambda: gateway.metric(dropped) > 0, 60)
    sink.down()  # the cloud is gone for 18 s while the fleet keeps publishing
    time.sleep(18)
    sink.delay = 0.0
    sink.up()
    finish_sim(sim, manifest)
    want = expected_readings(manifest)

    def settled() -> bool:
        return (gateway.metric("iotgw_gateway_log_backlog_messages") == 0
                and gateway.metric("iotgw_gateway_buffer_rows") == 0
                and len(want - sink.keys()) == gateway.metric(dropped))

    assert wait_until(settled, 90)
    missing = want - sink.keys()
    assert len(missing) == gateway.metric(dropped) > 0
    assert sink.keys() <= published_readings(manifest)
    assert not sink.duplicates()
    log_text = gateway.log_path.read_text()
    assert 0 < log_text.count("buffer full:") < 10  # a summary every 10 s, not a line per write
