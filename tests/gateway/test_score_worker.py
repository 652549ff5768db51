"""Scoring in a worker process (``detect.worker``): the same events as inline, state saved on
stop, reloaded settings forwarded, inline scoring when the worker dies, and no orphan when the
gateway is killed."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
from pathlib import Path

from gateway.decoded import ToScore
from gateway.detect.bank import DetectorBank
from gateway.detect.settings import DetectSettings
from gateway.score_worker import ScoreWorker, score_items
from tests.gateway.helpers import wait_until
from tests.support.processes import ROOT, child_env

SENSORS = ("temperature", "vibration")


def messages(devices: int, count: int, spike_at: int) -> list[tuple[str, ToScore]]:
    """A daily-ish wave per device and sensor, with a spike on every device at ``spike_at``."""
    out = []
    for seq in range(count):
        ts = 1_700_000_000_000 + seq * 60_000
        for d in range(devices):
            base = 20 + 3 * math.sin(seq / 30 + d) + 0.1 * ((seq * 7 + d) % 5)
            value = base + (40 if seq == spike_at else 0)
            out.append((f"dev-{d}", ToScore("site-1", ts, tuple(
                (sensor, ts, value * (k + 1)) for k, sensor in enumerate(SENSORS)))))
    return out


def batches(items: list[tuple[str, ToScore]], size: int = 97) -> list[list[tuple[str, ToScore]]]:
    return [items[a:a + size] for a in range(0, len(items), size)]


def test_the_worker_flags_what_the_inline_bank_flags(tmp_path: Path) -> None:
    items = messages(devices=4, count=400, spike_at=300)
    inline = DetectorBank(DetectSettings(), tmp_path / "inline")
    inline.start()
    want = []
    for batch in batches(items):
        found, failures = score_items(inline, batch)
        assert failures == 0
        events = [[] for _ in batch]
        for i, ev in found:
            events[i] = ev
        want += events
    worker = ScoreWorker(DetectSettings(), tmp_path / "worker")
    worker.start()
    try:
        got = [ev for batch in batches(items) for ev in worker.score_batch(batch)]
    finally:
        worker.stop()
    assert got == want
    flagged = {(e.device, e.ts_ms) for events in got for e in events}
    spike_ts = 1_700_000_000_000 + 300 * 60_000
    assert {(f"dev-{d}", spike_ts) for d in range(4)} <= flagged


def test_stopping_saves_the_streams_for_the_next_start(tmp_path: Path) -> None:
    worker = ScoreWorker(DetectSettings(), tmp_path)
    worker.start()
    worker.score_batch(messages(devices=2, count=150, spike_at=-1))
    worker.stop()
    bank = DetectorBank(DetectSettings(), tmp_path)
    bank.start()
    score_items(bank, messages(devices=2, count=1, spike_at=-1))
    assert bank.restored == 2 * len(SENSORS)


def test_reloaded_settings_reach_the_worker(tmp_path: Path) -> None:
    worker = ScoreWorker(DetectSettings(), tmp_path)
    worker.start()
    try:
        first = messages(devices=1, count=5, spike_at=-1)
        assert worker.score_batch(first) == [[]] * 5  # learning: nothing flagged
        worker.apply_settings({"limits": {"temperature": (-40.0, 5.0)}})
        events = worker.score_batch(messages(devices=1, count=1, spike_at=-1))[0]
        assert [(e.sensor, e.detector) for e in events] == [("temperature", "range")]
    finally:
        worker.stop()


def test_a_dead_worker_is_replaced_by_inline_scoring(tmp_path: Path) -> None:
    failures: list[int] = []
    settings = DetectSettings(limits={"temperature": (-40.0, 22.0)})  # some events, surely
    worker = ScoreWorker(settings, tmp_path, on_failure=lambda: failures.append(1))
    worker.start()
    items = messages(devices=2, count=300, spike_at=250)
    worker.score_batch(items[:100])
    pid = worker.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)  # the test plays the crash
    assert wait_until(lambda: not _alive(pid), 10)
    try:
        events = [ev for batch in batches(items[100:]) for ev in worker.score_batch(batch)]
    finally:
        worker.stop()
    assert failures == [1]
    # Every message from the batch in hand on is scored, inline, by streams as last saved
    # (never, here): what a bank started afresh gives.
    fresh = DetectorBank(settings, tmp_path / "fresh")
    fresh.start()
    want = [[] for _ in items[100:]]
    for i, found in score_items(fresh, items[100:])[0]:
        want[i] = found
    assert events == want
    assert any(want)


PARENT = """
import sys, time
from pathlib import Path
from gateway.detect.settings import DetectSettings
from gateway.score_worker import ScoreWorker
if __name__ == "__main__":
    w = ScoreWorker(DetectSettings(), Path(sys.argv[1]))
    w.start()
    print(w.pid, flush=True)
    time.sleep(600)
"""


def test_the_worker_exits_when_the_gateway_is_killed(tmp_path: Path) -> None:
    script = tmp_path / "parent.py"
    script.write_text(PARENT)
    parent = subprocess.Popen([sys.executable, str(script), str(tmp_path / "state")],
                              stdout=subprocess.PIPE, text=True, cwd=ROOT, env=child_env())
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        assert Path(f"/proc/{child}").exists()
        parent.kill()  # SIGKILL to the parent alone: no shutdown code runs
        parent.wait(10)
        # The pipe's end closes with the parent; the worker reads EOF, saves and exits.
        assert wait_until(lambda: not _alive(child), 20)
    finally:
        parent.kill()
        parent.wait(10)
        if parent.stdout is not None:
            parent.stdout.close()


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"  # a zombie has exited; its parent (here: init) reaps it



def test_an_abandoned_batch_does_not_answer_for_the_next(tmp_path: Path) -> None:
    settings = DetectSettings(limits={"temperature": (-40.0, 5.0)})  # every reading flagged
    worker = ScoreWorker(settings, tmp_path)
    worker.start()
    try:
        worker.submit(messages(devices=1, count=3, spike_at=-1))  # never collected
        worker.submit(messages(devices=2, count=1, spike_at=-1))
        events = worker.collect()
    finally:
        worker.stop()
    assert [[e.device for e in found] for found in events] == [["dev-0"], ["dev-1"]]


def test_a_reload_reaches_the_worker_through_the_gateways_reload(tmp_path: Path) -> None:
    from gateway.reload import apply
    from gateway.settings import GatewaySettings

    old = GatewaySettings(detect={"worker": True})
    new = GatewaySettings(detect={"worker": True, "limits": {"temperature": (-40.0, 5.0)}})
    worker = ScoreWorker(old.detect, tmp_path)
    worker.start()
    try:
        result = apply(old, new, uplink=None, bank=worker)  # type: ignore[arg-type]
        assert result.applied == ["detect.limits"]
        events = worker.score_batch(messages(devices=1, count=1, spike_at=-1))[0]
    finally:
        worker.stop()
    assert [(e.sensor, e.detector) for e in events] == [("temperature", "range")]
