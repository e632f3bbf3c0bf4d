"""Export jobs: a redacted export of minutes of 1080p takes minutes, longer than a proxy waits
for an answer, so `POST /cameras/{name}/export` only queues a job and answers 202.

A job runs the export core (`exports.core.export_bundle`) in its own thread (at most
`MAX_PARALLEL` at once; the rest wait as `queued`), reports the fraction done, and ends
`done` (its ZIP ready under `<data_dir>/tmp/p<pid>/exports/<id>/`, temporary space with its
cap: a job that would not fit is refused with 507) or `failed` (with the reason, and its
folder removed, so nothing half-written is ever served). Finished jobs and their files are
deleted `api.export_keep_hours` after they end.

Jobs live in memory only: a restart forgets them, and the new process deletes every job
folder it finds (and temporary export folders older than the keep time) before taking jobs.
"""

from __future__ import annotations

import logging
import secrets
import shutil
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path

import av
from fastapi import HTTPException

from vigil.api.context import ApiContext
from vigil.errors import VigilError
from vigil.exports.core import MAX_PARALLEL, ExportBundle, ExportRequest, ExportSite, export_bundle
from vigil.storage import TmpFull, TmpSpace
from vigil.store.models.camera import Segment

log = logging.getLogger("vigil.api.exports")

MAX_WAITING = 20  # queued or running jobs, all users together
SWEEP_EVERY_S = 60.0
STOP_WAIT_S = 10.0  # on shutdown, how long to wait for running jobs to clean up


class JobState(StrEnum):
    queued = "queued"
    running = "running"
    done = "done"
    failed = "failed"


class Stopped(Exception):
    """Raised into a running export (through its progress callback) when the server stops."""


@dataclass
class ExportJob:
    id: str
    request: ExportRequest  # its actor is the job's owner
    folder: Path
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    state: JobState = JobState.queued
    progress: float = 0.0
    error: str | None = None
    finished: datetime | None = None
    bundle: ExportBundle | None = None

    @property
    def owner(self) -> str:
        return self.request.actor

    @property
    def camera(self) -> str:
        return self.request.camera

    @property
    def redact(self) -> bool:
        return self.request.redact

    @property
    def reason(self) -> str:
        return self.request.reason


def _footage_bytes(ctx: ApiContext, camera: str, start: datetime, end: datetime) -> int:
    from sqlalchemy import func, select

    with ctx.db.session() as s:
        q = select(func.coalesce(func.sum(Segment.size_bytes), 0)).where(
            Segment.camera == camera, Segment.start < end, Segment.end > start
        )
        return int(s.scalar(q) or 0)


class ExportJobs:
    """The export jobs of one `ApiContext` (see `export_jobs`)."""

    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx
        self.site = ExportSite(ctx.config, ctx.db, ctx.face_engine)
        self.exports = ctx.data_dir / "exports"
        self.tmp = TmpSpace.from_config(ctx.config)
        self.root = self.tmp.folder() / "exports"
        self.keep = timedelta(hours=ctx.config.api.export_keep_hours)
        self._jobs: dict[str, ExportJob] = {}
        self._threads: set[threading.Thread] = set()
        self._lock = threading.Lock()
        self._slots = threading.Semaphore(MAX_PARALLEL)
        self._stop = threading.Event()
        self._sweeper: threading.Thread | None = None
        self._sweep_orphans()

    def _sweep_orphans(self) -> None:
        """Delete what an earlier process left: every job folder, and temporary export
        folders (`export_bundle` for the hub) older than the keep time."""
        shutil.rmtree(self.root, ignore_errors=True)
        shutil.rmtree(self.exports / "jobs", ignore_errors=True)  # where jobs used to be
        if not self.exports.is_dir():
            return
        cutoff = time.time() - self.keep.total_seconds()
        for p in self.exports.iterdir():
            if p.is_dir() and p.stat().st_mtime < cutoff:
                log.info("removing a stale export folder %s", p)
                shutil.rmtree(p, ignore_errors=True)

    def new(self, req: ExportRequest) -> ExportJob:
        """A job, not yet started (the caller audits it first, then calls `start`)."""
        with self._lock:
            waiting = sum(
                j.state in (JobState.queued, JobState.running) for j in self._jobs.values()
            )
        if waiting >= MAX_WAITING:
            raise HTTPException(
                429, f"{waiting} exports are waiting already; try again when one has finished"
            )
        # the clip and its ZIP (a redacted export briefly holds the cut original too):
        # about twice the footage in the range, in the capped temporary space
        need = 2 * _footage_bytes(self.ctx, req.camera, req.start, req.end)
        try:
            self.tmp.check(need, f"this export (about {need / 1e6:.0f} MB)")
        except TmpFull as exc:
            raise HTTPException(507, str(exc)) from exc
        job_id = secrets.token_urlsafe(12)
        return ExportJob(job_id, req, self.root / job_id)

    def start(self, job: ExportJob) -> None:
        if self._stop.is_set():
            raise HTTPException(503, "the server is stopping; no new exports")
        t = threading.Thread(target=self._run, args=(job,), name=f"export-{job.id}", daemon=True)
        with self._lock:
            self._jobs[job.id] = job
            self._threads.add(t)
            if self._sweeper is None:
                self._sweeper = threading.Thread(target=self._sweep_loop, daemon=True)
                self._sweeper.start()
        t.start()

    def get(self, job_id: str) -> ExportJob | None:
        self.sweep()
        with self._lock:
            return self._jobs.get(job_id)

    def expires(self, job: ExportJob) -> datetime | None:
        return job.finished + self.keep if job.finished else None

    def _run(self, job: ExportJob) -> None:
        try:
            with self._slots:
                if self._stop.is_set():
                    raise Stopped
                job.state = JobState.running
                bundle = export_bundle(
                    self.site,
                    job.request,
                    folder=job.folder,
                    progress=lambda f: self._progress(job, f),
                )
            job.bundle, job.progress, job.finished = bundle, 1.0, datetime.now(UTC)
            job.state = JobState.done
        except Stopped:
            self._fail(job, "the server stopped before this export finished; start it again")
        except VigilError as exc:
            self._fail(job, str(exc))
        except av.error.FFmpegError as exc:  # server paths stay in the log
            log.warning("export %s: %s", job.id, exc)
            name = Path(exc.filename).name if exc.filename else "a recording"
            self._fail(job, f"{name} cannot be read ({exc.strerror}): the footage may be damaged")
        except Exception as exc:
            log.exception("export %s failed", job.id)
            self._fail(job, f"export failed ({type(exc).__name__}); the server log has details")
        finally:
            with self._lock:
                self._threads.discard(threading.current_thread())

    def _progress(self, job: ExportJob, fraction: float) -> None:
        if self._stop.is_set():
            raise Stopped
        job.progress = min(0.99, max(job.progress, fraction))  # 1.0 only once the ZIP is there

    def _fail(self, job: ExportJob, message: str) -> None:
        shutil.rmtree(job.folder, ignore_errors=True)  # export_bundle's own, belt and braces
        job.error, job.finished = message, datetime.now(UTC)
        job.state = JobState.failed

    def sweep(self, now: datetime | None = None) -> int:
        """Forget jobs that ended more than the keep time ago and delete their files."""
        now = now or datetime.now(UTC)
        with self._lock:
            gone = [j for j in self._jobs.values() if j.finished and j.finished + self.keep <= now]
            for j in gone:
                del self._jobs[j.id]
        for j in gone:
            shutil.rmtree(j.folder, ignore_errors=True)
        return len(gone)

    def _sweep_loop(self) -> None:
        while not self._stop.wait(SWEEP_EVERY_S):
            self.sweep()

    def close(self) -> None:
        """Stop: running exports end (failed) at their next frame and remove their files."""
        self._stop.set()
        with self._lock:
            threads = list(self._threads)
        deadline = time.monotonic() + STOP_WAIT_S
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))


_create = threading.Lock()


def export_jobs(ctx: ApiContext) -> ExportJobs:
    """The context's export jobs, made (and earlier processes' leftovers swept) on first use;
    `create_app`'s start-up makes them, so the sweep runs when a server starts."""
    with _create:
        jobs = ctx.__dict__.get("_export_jobs")
        if jobs is None:
            jobs = ctx.__dict__["_export_jobs"] = ExportJobs(ctx)
        return jobs


def close_export_jobs(ctx: ApiContext) -> None:
    """Stop the context's export jobs (server shutdown); a later app gets fresh ones."""
    with _create:
        jobs = ctx.__dict__.pop("_export_jobs", None)
    if jobs is not None:
        jobs.close()
