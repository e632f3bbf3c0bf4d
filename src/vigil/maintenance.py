"""Periodic maintenance: one scheduler a node owns, holding its named jobs.

A job is a callable with an interval (`every_s`) and a first-run delay (`first_after_s`, 0:
at once on start). Its next run is due `every_s` after the previous one ended, whether that
run succeeded or failed. A job may also say when it is due before its interval (`early`,
asked every `check_s`): footage retention runs at once when free space drops.

Each job runs in its own thread, so a slow pass (a scrub can read the disk for hours) never
delays another (retention must answer a full disk within seconds); one job never runs twice
at once. A failure is logged with the job's name, kept as its `last_error`, and the job runs
again at its next turn; the other jobs never notice. `stop()` wakes every waiting job at
once and joins them; a job given `Scheduler.stopping` (the scrub) ends its pass early.

`status()` says for each job when it last ran, when it is due next, how many runs and
failures it had and the last error. Times are the scheduler's clock (`time.monotonic`
unless one is given); `run_pending()` runs what is due in the caller's thread, so a test can
drive a fake clock without threads.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


@dataclass
class Job:
    """One named job and what the scheduler knows of it (times on the scheduler's clock)."""

    name: str
    run: Callable[[], object]
    every_s: float
    first_after_s: float = 0.0
    early: Callable[[], bool] | None = None  # due before its interval when this says so
    check_s: float | None = None  # how often `early` is asked (default: every_s)
    next_due: float = 0.0
    last_run: float | None = None  # when the last run started
    last_duration_s: float = 0.0
    last_error: str = ""  # of the last run; "" once a run succeeds
    runs: int = 0
    failures: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)


@dataclass(frozen=True)
class JobStatus:
    name: str
    every_s: float
    next_due: float
    last_run: float | None
    last_duration_s: float
    last_error: str
    runs: int
    failures: int


class Scheduler:
    """Named periodic jobs, each in its own thread from `start()` until `stop()`."""

    def __init__(self, name: str = "maintenance", *, clock: Callable[[], float] = time.monotonic):
        self.name = name
        self.clock = clock
        self._jobs: dict[str, Job] = {}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._state = threading.Lock()  # guards the jobs' recorded state

    @property
    def stopping(self) -> threading.Event:
        """Set by `stop()`: a long job may watch it to end its pass early."""
        return self._stop

    def add(
        self,
        name: str,
        run: Callable[[], object],
        *,
        every_s: float,
        first_after_s: float = 0.0,
        early: Callable[[], bool] | None = None,
        check_s: float | None = None,
    ) -> Job:
        """Add a job before `start()`: first due `first_after_s` from now, then `every_s`
        after each run ends (and when `early()` says so, asked every `check_s`)."""
        if every_s <= 0 or (check_s is not None and check_s <= 0):
            raise ValueError(f"{name}: intervals must be positive")
        if name in self._jobs:
            raise ValueError(f"a job named {name!r} is already scheduled")
        if self._threads:
            raise RuntimeError("add jobs before the scheduler starts")
        job = Job(name, run, float(every_s), float(first_after_s), early, check_s)
        job.next_due = self.clock() + job.first_after_s
        self._jobs[name] = job
        return job

    def job(self, name: str) -> Job:
        return self._jobs[name]

    def status(self) -> list[JobStatus]:
        with self._state:
            return [
                JobStatus(
                    j.name,
                    j.every_s,
                    j.next_due,
                    j.last_run,
                    j.last_duration_s,
                    j.last_error,
                    j.runs,
                    j.failures,
                )
                for j in self._jobs.values()
            ]

    def is_due(self, job: Job, now: float | None = None) -> bool:
        """Its time has come, or it is past its first turn and `early()` says so (an
        `early` that fails is logged and counts as not due)."""
        now = self.clock() if now is None else now
        if now >= job.next_due:
            return True
        if job.early is None or job.last_run is None:
            return False
        try:
            return bool(job.early())
        except Exception:
            log.exception("%s: checking whether %s is due failed", self.name, job.name)
            return False

    def run_job(self, job: Job) -> bool:
        """Run `job` now in this thread and record it; False when it failed (logged)."""
        with job._lock:
            started = self.clock()
            error = ""
            try:
                job.run()
            except Exception as exc:
                log.exception("%s: %s failed; it runs again at its next turn", self.name, job.name)
                error = f"{type(exc).__name__}: {exc}"
            ended = self.clock()
            with self._state:
                job.last_run = started
                job.last_duration_s = ended - started
                job.next_due = ended + job.every_s
                job.last_error = error
                job.runs += 1
                job.failures += bool(error)
        return not error

    def run_pending(self) -> list[str]:
        """Run every job that is due, one after another in this thread; their names."""
        ran = []
        for job in list(self._jobs.values()):
            if self.is_due(job):
                self.run_job(job)
                ran.append(job.name)
        return ran

    def _loop(self, job: Job) -> None:
        while not self._stop.is_set():
            if self.is_due(job):
                self.run_job(job)
            wait = job.next_due - self.clock()
            if job.early is not None:
                wait = min(wait, job.every_s if job.check_s is None else job.check_s)
            if self._stop.wait(max(wait, 0.0)):
                return

    def start(self) -> None:
        """One thread per job; each runs its job when due until `stop()`."""
        if self._threads:
            return
        self._stop.clear()
        for job in self._jobs.values():
            t = threading.Thread(
                target=self._loop, args=(job,), name=f"{self.name}: {job.name}", daemon=True
            )
            t.start()
            self._threads.append(t)

    def stop(self, timeout: float = 10.0) -> None:
        """Wake every waiting job and wait up to `timeout` in all for running ones to end."""
        self._stop.set()
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(deadline - time.monotonic(), 0.0))
            if t.is_alive():
                log.warning("%s: %s still running after stop", self.name, t.name)
        self._threads = []
