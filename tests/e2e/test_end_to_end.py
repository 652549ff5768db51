"""End to end: simulator -> Mosquitto -> gateway -> cloud -> InfluxDB, all real processes.

Every acknowledged, well-formed reading of the simulator's manifest must be in InfluxDB exactly
once, with its device timestamp and value; malformed payloads must be dead-lettered, not stored;
and the anomalies the gateway's detectors raise on the injected faults must reach the cloud.
"""

from __future__ import annotations

import pytest

from simulators.manifest import dead_letter_count, read_manifest
from tests.support.reconcile import wait_until
from tests.support.stack import Stack

pytestmark = pytest.mark.integration


def test_every_acknowledged_reading_is_stored_exactly_once(stack: Stack) -> None:
    sim = stack.simulation(
        devices=8, rate=400, count=2400, format="json",
        faults="duplicate=0.02,out-of-order=0.02,truncated=0.01,wrong-type=0.01",
    ).run()

    rec = stack.delivered(sim.manifest, timeout=60)

    assert rec.expected > 2400 * 0.9, rec.summary()
    assert rec.ok, rec.summary() + stack.diagnostics()
    malformed = dead_letter_count(sim.manifest)
    assert malformed > 0
    assert wait_until(lambda: stack.gw.dead_lettered() == malformed, 10), (
        f"dead-lettered {stack.gw.dead_lettered()} != manifest's malformed {malformed}"
    )


def test_edge_anomalies_for_injected_faults_reach_the_cloud(stack: Stack) -> None:
    sim = stack.simulation(
        devices=2, rate=500, count=4000, format="json", faults="spike=0.01@dev-0001",
    ).run()
    rec = stack.delivered(sim.manifest, timeout=60)
    assert rec.ok, rec.summary() + stack.diagnostics()

    spiked = {
        (line["device"], r["sensor"], r["ts"])
        for line in read_manifest(sim.manifest)
        if line.get("acked")
        for r in line["readings"]
        if r.get("fault") == "spike"
    }
    assert spiked, "the simulator injected no spike"
    emitted = stack.gw.anomalies_emitted()
    assert emitted > 0, "the gateway's detectors raised nothing on injected spikes"
    # Every anomaly the gateway raised reaches the cloud: same count in InfluxDB.
    assert wait_until(lambda: len(stack.anomalies()) == emitted, 30), (
        f"{len(stack.anomalies())} anomalies in the cloud, the gateway emitted {emitted}"
    )
    found = {(a["device"], a["sensor"], a["time"]) for a in stack.anomalies()}
    recall = len(spiked & found) / len(spiked)
    assert recall >= 0.5, f"only {recall:.0%} of {len(spiked)} spikes reached the cloud"
