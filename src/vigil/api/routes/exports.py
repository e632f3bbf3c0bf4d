"""Exports as jobs: POST queues one (audited with its reason, as every export is:
`exports.core`), GET shows its state and progress, GET .../download streams the ZIP (audited).
`api/export_jobs.py` runs them; the export core does the work."""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from typing import Annotated

import anyio
from fastapi import APIRouter, HTTPException, Path, Request
from fastapi.responses import FileResponse

from vigil.api.deps import Ctx, Exporter, Perm, Principal, audit
from vigil.api.export_jobs import ExportJob, ExportJobs, JobState, export_jobs
from vigil.api.routes.cameras import find_camera
from vigil.api.schemas import ClipFootageOut, ExportIn, ExportJobOut, LostSegmentOut, SpanOut
from vigil.camera.export import ExportResult
from vigil.exports.core import AUDIT_ACTION, AUDIT_TARGET, ExportRequest, person_name
from vigil.privacy.audit import Action

router = APIRouter(tags=["exports"])

MAX_EXPORT = timedelta(hours=6)
JobId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="Export job id")]


def job_out(jobs: ExportJobs, job: ExportJob) -> ExportJobOut:
    url = f"/api/v1/exports/{job.id}"
    b = job.bundle if job.state is JobState.done else None
    return ExportJobOut(
        id=job.id,
        url=url,
        camera=job.camera,
        state=job.state.value,
        progress=round(job.progress, 3),
        error=job.error,
        redacted=job.redact,
        created_at=job.created,
        finished_at=job.finished,
        expires_at=jobs.expires(job),
        download_url=f"{url}/download" if b else None,
        filename=b.zip.name if b else None,
        bytes=b.zip.stat().st_size if b else None,
        clip_start=b.result.start if b else None,
        clip_end=b.result.end if b else None,
        footage=clip_footage(b.result) if b else None,
    )


def clip_footage(result: ExportResult) -> ClipFootageOut:
    a = result.account()
    return ClipFootageOut(
        complete=result.complete,
        requested_s=float(a["requested_s"]),  # type: ignore[arg-type]  # a number; account() says object
        footage_s=float(a["footage_s"]),  # type: ignore[arg-type]  # a number, as above
        gaps=[SpanOut(start=x, end=y) for x, y in result.gaps],
        damaged_segments=[LostSegmentOut.model_validate(d) for d in result.damaged],
        missing_segments=[LostSegmentOut.model_validate(d) for d in result.missing],
        warnings=result.warnings(),
    )


def own_job(ctx: Ctx, p: Principal, job_id: str) -> tuple[ExportJobs, ExportJob]:
    jobs = export_jobs(ctx)
    job = jobs.get(job_id)
    if job is None:
        hours = ctx.config.api.export_keep_hours
        raise HTTPException(
            404, f"no export {job_id!r} (finished exports are deleted after {hours:g} h)"
        )
    if job.owner != p.username and not p.can(Perm.users):
        raise HTTPException(403, "only the user who asked for this export, or an admin, may see it")
    return jobs, job


@router.post(
    "/cameras/{name}/export",
    status_code=202,
    summary="Start exporting a clip: a ZIP of the MP4 (redacted by default) and its manifest",
    description=(
        "Answers 202 with a job to poll (`url`); when its state is `done`, `download_url` "
        "gives the ZIP. A stated reason is required and audited when the job is created, with "
        "whether the clip is redacted. `redact` (default true) pixelates every face but "
        "`subject_person_id`'s and blacks out the camera's privacy masks; `redact: false` "
        "exports the unredacted original. Check a bundle with `vigil export verify <zip>`."
    ),
    responses={404: {"description": "No such camera or person"}, 429: {"description": "Busy"}},
)
async def start_export(
    name: str, body: ExportIn, p: Exporter, ctx: Ctx, request: Request
) -> ExportJobOut:
    cam = find_camera(ctx, name)
    if body.end - body.start > MAX_EXPORT:
        raise HTTPException(422, "export at most 6 hours at a time")
    if body.subject_person_id is not None and not body.redact:
        raise HTTPException(422, "subject_person_id only applies to a redacted export")
    subject = None  # NotFoundError (404) for an unknown person
    if body.subject_person_id is not None:
        subject = await anyio.to_thread.run_sync(person_name, ctx.db, body.subject_person_id)
    req = ExportRequest.of(
        cam,
        body.start,
        body.end,
        actor=p.username,
        reason=body.reason,
        redact=body.redact,
        subject=subject,
        exact=body.exact,
        via="api",
    ).checked()  # InputError (422): a range that ends before it starts
    jobs = await anyio.to_thread.run_sync(export_jobs, ctx)
    job = jobs.new(req)
    record = partial(
        audit,
        ctx,
        request,
        p,
        AUDIT_ACTION,
        reason=req.reason,
        target_kind=AUDIT_TARGET,
        target_id=req.camera,
        camera=req.camera,
        details={**req.audit_details(), "job": job.id},
    )
    await anyio.to_thread.run_sync(record)  # no job runs without its audit record
    jobs.start(job)
    return job_out(jobs, job)


@router.get("/exports/{job_id}", summary="An export job: state, progress, download link")
def get_export(job_id: JobId, p: Exporter, ctx: Ctx) -> ExportJobOut:
    return job_out(*own_job(ctx, p, job_id))


@router.get(
    "/exports/{job_id}/download",
    response_class=FileResponse,
    summary="The finished export's ZIP (each download is audited)",
    responses={
        200: {"content": {"application/zip": {}}},
        409: {"description": "Not done"},
        410: {"description": "Expired"},
    },
)
def download_export(job_id: JobId, p: Exporter, ctx: Ctx, request: Request) -> FileResponse:
    _, job = own_job(ctx, p, job_id)
    b = job.bundle
    if job.state is not JobState.done or b is None:
        raise HTTPException(409, job.error or f"export {job_id} is {job.state.value}, not done")
    if not b.zip.is_file():  # swept (expired) since the job was looked up
        raise HTTPException(410, f"export {job_id} has expired; start a new one")
    audit(
        ctx,
        request,
        p,
        Action.view_recording,
        reason=job.reason,
        target_kind="export",
        target_id=job.id,
        camera=job.camera,
        details={**b.audit_details(), "job": job.id, "file": b.zip.name},
    )
    return FileResponse(
        b.zip,
        media_type="application/zip",
        filename=b.zip.name,
        headers={
            "Cache-Control": "private",
            "X-Clip-Start": b.result.start.isoformat(),
            "X-Clip-End": b.result.end.isoformat(),
            "X-Clip-Gaps": str(len(b.result.gaps)),
            "X-Clip-Complete": "true" if b.result.complete else "false",
            "X-Clip-Redacted": "true" if b.redacted else "false",
        },
    )
