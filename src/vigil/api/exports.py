"""What `POST /api/v1/cameras/{name}/export` hands out: a ZIP with the clip and its manifest.

By default the clip is redacted (every face but the subject's pixelated, privacy masks
blacked out) so a shared clip never shows bystanders; the unredacted original is exported
only when asked for, and the audit record says which. The manifest (`privacy/manifest.py`)
is signed with the site key and names camera, range, who, reason, redaction and the clip's
SHA-256; `vigil export verify <zip>` checks it.

Everything here blocks (remux, decode, face detection, re-encode): the route runs it in a
worker thread, at most `MAX_PARALLEL` at a time, so the event loop keeps serving.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import anyio
from fastapi import HTTPException, Request
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from vigil.api.context import ApiContext
from vigil.api.deps import Principal, audit
from vigil.api.schemas import ExportIn
from vigil.camera.export import ExportResult, export_clip
from vigil.config import CameraConfig
from vigil.privacy.audit import Action
from vigil.privacy.bundle import write_bundle
from vigil.privacy.manifest import sha256_file, write_manifest
from vigil.privacy.redaction import Subject, redact_clip, subject_from_gallery
from vigil.store.models.faces import Person

MAX_PARALLEL = 2  # redaction is CPU-bound: more at once only slows each down
limiter = anyio.CapacityLimiter(MAX_PARALLEL)


@dataclass
class ExportBundle:
    folder: Path  # temporary; removed once the response is sent
    zip: Path
    clip_name: str
    result: ExportResult
    redacted: bool
    subject: str | None
    faces_redacted: int | None
    manifest_sha256: str

    def audit_details(self) -> dict[str, Any]:
        return {
            "start": self.result.start.isoformat(),
            "end": self.result.end.isoformat(),
            "mode": self.result.mode,
            "redacted": self.redacted,
            "subject": self.subject,
            "faces_redacted": self.faces_redacted,
            "bytes": self.zip.stat().st_size,
            "manifest_sha256": self.manifest_sha256,
        }


def subject_name(ctx: ApiContext, person_id: int) -> str:
    with ctx.db.session() as s:
        person = s.get(Person, person_id)
        if person is None:
            raise HTTPException(404, f"no enrolled person with id {person_id}")
        return person.name


def build_export(
    ctx: ApiContext,
    cam: CameraConfig,
    start: datetime,
    end: datetime,
    *,
    exact: bool,
    redact: bool,
    subject_id: int | None,
    actor: str,
    reason: str,
) -> ExportBundle:
    """Cut, redact (unless told not to), sign and zip; the caller removes `folder`."""
    subject: Subject | None = None
    name = subject_name(ctx, subject_id) if subject_id is not None else None
    if name is not None:
        engine = ctx.face_engine()
        subject = subject_from_gallery(ctx.db, engine.model_name, name, ctx.calibration().threshold)
    exports = ctx.data_dir / "exports"
    exports.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f"{cam.name}-", dir=exports))
    try:
        plain = folder / "original.mp4"
        result = export_clip(ctx.db, ctx.data_dir, cam.name, start, end, plain, exact=exact)
        stamp = result.start.strftime("%Y%m%dT%H%M%SZ")
        clip = folder / "bundle" / f"{cam.name}-{stamp}{'-redacted' if redact else ''}.mp4"
        clip.parent.mkdir()
        faces_redacted = None
        if redact:
            masks = [[(float(x), float(y)) for x, y in poly] for poly in cam.privacy_masks]
            r = redact_clip(plain, clip, ctx.face_engine(), subject=subject, masks=masks)
            faces_redacted = r.faces_redacted
            plain.unlink()
        else:
            plain.replace(clip)
        manifest = write_manifest(
            ctx.data_dir,
            [clip],
            kind="redacted_clip" if redact else "clip",
            actor=actor,
            reason=reason,
            camera=cam.name,
            start=result.start,
            end=result.end,
            details={
                "mode": result.mode,
                "frames": result.frames,
                "redacted": redact,
                "subject": name,
                "faces_redacted": faces_redacted,
                "via": "api",
            },
            out=clip.parent / "manifest.json",
        )
        bundle = write_bundle(folder / f"{clip.stem}.zip", [clip], manifest)
        return ExportBundle(
            folder,
            bundle,
            clip.name,
            result,
            redact,
            name,
            faces_redacted,
            sha256_file(manifest),
        )
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


async def export_response(
    ctx: ApiContext, request: Request, p: Principal, cam: CameraConfig, body: ExportIn
) -> FileResponse:
    """Build the bundle in a worker thread, audit it, and send it (then delete it)."""
    if body.subject_person_id is not None and not body.redact:
        raise HTTPException(422, "subject_person_id only applies to a redacted export")
    work = partial(
        build_export,
        ctx,
        cam,
        body.start,
        body.end,
        exact=body.exact,
        redact=body.redact,
        subject_id=body.subject_person_id,
        actor=p.username,
        reason=body.reason,
    )
    bundle = await anyio.to_thread.run_sync(work, limiter=limiter)
    record = partial(
        audit,
        ctx,
        request,
        p,
        Action.export,
        reason=body.reason,
        target_kind="camera",
        target_id=cam.name,
        camera=cam.name,
        details=bundle.audit_details(),
    )
    try:
        await anyio.to_thread.run_sync(record)
    except BaseException:  # nothing leaves without its audit record
        shutil.rmtree(bundle.folder, ignore_errors=True)
        raise
    return FileResponse(
        bundle.zip,
        media_type="application/zip",
        filename=bundle.zip.name,
        background=BackgroundTask(shutil.rmtree, bundle.folder, ignore_errors=True),
        headers={
            "X-Clip-Start": bundle.result.start.isoformat(),
            "X-Clip-End": bundle.result.end.isoformat(),
            "X-Clip-Gaps": str(len(bundle.result.gaps)),
            "X-Clip-Redacted": "true" if bundle.redacted else "false",
        },
    )
