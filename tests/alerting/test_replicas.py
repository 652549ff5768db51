"""Two cloud replicas on one metadata database never open the same alert twice and never send
the same delivery twice: on PostgreSQL (row locks, ``FOR UPDATE SKIP LOCKED``) and on SQLite
(one writer at a time)."""

from __future__ import annotations

import threading
from collections import Counter

import numpy as np
import pytest

from cloud.alerting.core.clock import ManualClock
from tests.alerting.harness import T0, Cloud, reading, seconds
from tests.alerting.receiver import Receiver


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def replicas(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'meta.sqlite3'}"
    else:
        url = request.getfixturevalue("postgres").url
    clock = ManualClock(T0)
    store = tmp_path / "series.sqlite3"
    with Cloud(tmp_path / "a", clock, url, store) as a, Cloud(tmp_path / "b", clock, url,
                                                              store) as b:
        yield a, b


def together(*jobs):
    """Run the jobs at the same time (released by one barrier); re-raise their errors."""
    barrier = threading.Barrier(len(jobs))
    errors = []

    def run(job):
        try:
            barrier.wait()
            job()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def test_two_replicas_open_each_alert_once_and_deliver_each_event_once(replicas):
    a, b = replicas
    with Receiver(lambda: a.clock.now_ms() / 1000) as receiver:
        hook = a.client.post("/v1/webhooks", json={"url": receiver.url}).json()
        receiver.secret = hook["secret"]
        a.rule(name="hot", kind="threshold", op="above", limit=90.0, clear=80.0)
        b.rule(name="silent", kind="deadman", after_s=60)
        devices = [f"motor-{i}" for i in range(12)]
        ts = seconds(T0, 5, 1.0)

        def flood(cloud, offset):
            for device in devices:
                cloud.feed(device, "temp", ts + offset, np.full(5, 95.0), batch=5)

        # Both replicas see the same series over the limit at the same moment.
        together(lambda: flood(a, 0), lambda: flood(b, 500))
        firing = a.alerts(state="firing")
        assert sorted(x["device"] for x in firing) == sorted(devices)     # one alert per series
        # Both replicas tick at once with every device silent: one deadman alert each.
        a.clock.advance(seconds=300)
        together(a.tick, b.tick, a.tick, b.tick)
        deadman = [x for x in b.alerts(state="firing") if x["rule_name"] == "silent"]
        assert sorted(x["device"] for x in deadman) == sorted(devices)

        def drain(cloud):
            while cloud.deliver():
                pass

        together(lambda: drain(a), lambda: drain(b), lambda: drain(a), lambda: drain(b))
        counts = Counter(receiver.ids())
        assert len(counts) == 2 * len(devices)                   # every event delivered ...
        assert set(counts.values()) == {1}                       # ... exactly once
        assert all(r["valid"] for r in receiver.received)
        deliveries = a.client.get(f"/v1/webhooks/{hook['id']}/deliveries").json()
        assert {d["state"] for d in deliveries} == {"delivered"}
        assert sorted(d["id"] for d in deliveries) == sorted(counts)


def test_concurrent_ingest_into_one_replica_loses_no_statistics_and_no_transition(tmp_path):
    """The default deployment: one replica on SQLite, many ingest requests at once."""
    with Cloud(tmp_path, ManualClock(T0)) as cloud:
        cloud.rule(name="hot", kind="threshold", op="above", limit=90.0, clear=80.0)
        devices = [f"fan-{i}" for i in range(6)]

        def worker(k):
            def run():
                for round_ in range(8):
                    ts = seconds(T0 + (round_ * 8 + k) * 5000, 5, 1.0)
                    hot = 95.0 if round_ % 2 == 0 else 50.0
                    for device in devices:
                        cloud.ingest([reading(device, "rpm", int(t), hot) for t in ts])
            return run

        together(*(worker(k) for k in range(6)))
        assert cloud.alerting.evaluator.errors == 0
        report = cloud.client.get("/v1/pipeline/health").json()
        assert report["sla"]["readings"] == 6 * 8 * len(devices) * 5    # none lost or doubled
        assert report["sla"]["requests_ok"] == 6 * 8 * len(devices)
        assert sorted(d["device"] for d in report["freshness"]["devices"]) == sorted(devices)
        for device in devices:   # one alert at a time per series, never two open
            open_ = [a for a in cloud.alerts(device=device) if a["state"] != "resolved"]
            assert len(open_) <= 1
