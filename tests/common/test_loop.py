"""The background loop the cloud's evaluator, webhook worker and downsampler run on."""

from __future__ import annotations

import threading

from common.loop import BackgroundLoop


def test_a_step_that_reports_more_work_runs_again_without_waiting() -> None:
    calls: list[int] = []
    done = threading.Event()

    def step() -> bool:
        calls.append(1)
        if len(calls) == 5:
            done.set()
            return False
        return True

    loop = BackgroundLoop("busy", step, every_s=3600, first_wait=False)
    loop.start()
    try:
        assert done.wait(10), "the loop waited between steps although work was waiting"
    finally:
        loop.stop()
    assert len(calls) == 5          # the sixth step waits an hour; stop ends that wait
    assert not loop.running


def test_a_failing_step_is_logged_and_the_loop_goes_on(caplog) -> None:
    calls: list[int] = []
    second = threading.Event()

    def step() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("store went away")
        second.set()

    loop = BackgroundLoop("flaky", step, every_s=0.01)
    loop.start()
    try:
        assert second.wait(10)
    finally:
        loop.stop()
    assert "flaky: a round failed" in caplog.text
    assert "store went away" in caplog.text


def test_start_twice_runs_one_thread_and_stop_waits_for_the_running_step() -> None:
    entered, release, finished = threading.Event(), threading.Event(), threading.Event()

    def step() -> None:
        if entered.is_set():
            return
        entered.set()
        release.wait(10)
        finished.set()

    loop = BackgroundLoop("once", step, every_s=3600, first_wait=False)
    loop.start()
    loop.start()
    assert entered.wait(10)
    assert [t.name for t in threading.enumerate()].count("once") == 1
    release.set()
    loop.stop()
    assert finished.is_set()
