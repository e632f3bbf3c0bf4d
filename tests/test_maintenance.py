"""The maintenance scheduler: due times on a fake clock, failures kept apart, a prompt stop."""

from __future__ import annotations

import threading
import time

import pytest

from vigil.maintenance import Scheduler


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_first_run_then_every_interval_after_the_run_ends() -> None:
    clock = Clock()
    sched = Scheduler(clock=clock)
    ran: list[str] = []
    sched.add("at once", lambda: ran.append("a"), every_s=10)
    sched.add("later", lambda: ran.append("b"), every_s=30, first_after_s=60)
    assert sched.run_pending() == ["at once"]
    clock.now += 9.9
    assert sched.run_pending() == []
    clock.now += 0.1
    assert sched.run_pending() == ["at once"]
    clock.now += 50  # 60 s after the start
    assert sched.run_pending() == ["at once", "later"]
    clock.now += 30
    assert sched.run_pending() == ["at once", "later"]
    assert ran == ["a", "a", "a", "b", "a", "b"]
    status = {s.name: s for s in sched.status()}
    assert status["later"].runs == 2 and status["later"].next_due == clock.now + 30
    assert status["at once"].last_run == clock.now and status["at once"].last_error == ""


def test_the_interval_counts_from_the_end_of_a_run() -> None:
    clock = Clock()
    sched = Scheduler(clock=clock)

    def slow() -> None:
        clock.now += 5  # the run takes 5 s

    sched.add("slow", slow, every_s=10)
    sched.run_pending()
    status = sched.status()[0]
    assert status.last_run == 1000.0 and status.last_duration_s == 5
    assert status.next_due == 1015.0


def test_a_failing_job_is_retried_at_its_turn_and_the_others_run() -> None:
    clock = Clock()
    sched = Scheduler(clock=clock)
    good: list[float] = []
    calls = 0

    def bad() -> None:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise OSError("disk gone")

    sched.add("bad", bad, every_s=5)
    sched.add("good", lambda: good.append(clock.now), every_s=5)
    for _ in range(4):
        assert sched.run_pending() == ["bad", "good"]
        if calls < 3:
            assert sched.job("bad").last_error == "OSError: disk gone"
        clock.now += 5
    bad_status = next(s for s in sched.status() if s.name == "bad")
    assert bad_status.runs == 4 and bad_status.failures == 2 and bad_status.last_error == ""
    assert good == [1000.0, 1005.0, 1010.0, 1015.0]


def test_early_is_asked_only_after_the_first_run() -> None:
    clock = Clock()
    sched = Scheduler(clock=clock)
    short = False
    asked = 0

    def space_short() -> bool:
        nonlocal asked
        asked += 1
        return short

    sched.add("retention", lambda: None, every_s=300, first_after_s=60, early=space_short)
    short = True
    assert sched.run_pending() == [] and asked == 0  # before its first turn: not asked
    clock.now += 60
    assert sched.run_pending() == ["retention"]
    clock.now += 10
    assert sched.run_pending() == ["retention"]  # space short: at once, not in 300 s
    short = False
    clock.now += 10
    assert sched.run_pending() == []
    assert sched.job("retention").next_due == clock.now - 10 + 300


def test_an_early_check_that_fails_counts_as_not_due() -> None:
    clock = Clock()
    sched = Scheduler(clock=clock)

    def broken() -> bool:
        raise OSError("statvfs failed")

    sched.add("retention", lambda: None, every_s=300, early=broken)
    assert sched.run_pending() == ["retention"]
    clock.now += 10
    assert sched.run_pending() == []


def test_names_and_intervals_are_checked() -> None:
    sched = Scheduler()
    sched.add("a", lambda: None, every_s=1)
    with pytest.raises(ValueError, match="already"):
        sched.add("a", lambda: None, every_s=1)
    with pytest.raises(ValueError, match="positive"):
        sched.add("b", lambda: None, every_s=0)


def test_threads_run_jobs_apart_and_stop_promptly() -> None:
    """A job that blocks does not hold up another; a failing one keeps running at its
    turns; stop wakes jobs that wait an hour and ends a long one watching `stopping`."""
    sched = Scheduler("test")
    fast: list[float] = []
    failing = 0
    entered = threading.Event()

    def long_pass() -> None:
        entered.set()
        sched.stopping.wait(60)  # like a scrub pass: ends when the scheduler stops

    def fail() -> None:
        nonlocal failing
        failing += 1
        raise RuntimeError("boom")

    sched.add("long", long_pass, every_s=3600)
    sched.add("fast", lambda: fast.append(time.monotonic()), every_s=0.02)
    sched.add("failing", fail, every_s=0.02)
    sched.add("hourly", lambda: None, every_s=3600, first_after_s=3600)
    sched.start()
    try:
        assert entered.wait(5)
        deadline = time.monotonic() + 5
        while (len(fast) < 5 or failing < 5) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(fast) >= 5 and failing >= 5
    finally:
        t0 = time.monotonic()
        sched.stop()
        stopped_in = time.monotonic() - t0
    assert stopped_in < 1.0
    assert not [t for t in threading.enumerate() if t.name.startswith("test: ")]
    n = len(fast)
    time.sleep(0.1)
    assert len(fast) == n  # nothing runs after stop
