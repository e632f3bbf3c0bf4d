"""What an export job (`api/export_jobs.py`) hands out: a ZIP with the clip and its manifest.

By default the clip is redacted (every face but the subject's pixelated, privacy masks
blacked out) so a shared clip never shows bystanders; the unredacted original is exported
only when asked for, and the audit record says which. The manifest (`privacy/manifest.py`)
is signed with the site key and names camera, range, who, reason, redaction, the clip's
SHA-256 and what the clip holds of the range (gaps, damaged or missing segments);
`vigil export verify <zip>` checks it.

Everything here blocks (remux, decode, face detection, re-encode): export jobs run it in
worker threads, at most `MAX_PARALLEL` at a time, and the hub's `clip` command in its own.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import HTTPException

from vigil.api.context import ApiContext
from vigil.camera.export import ExportResult, Progress, export_clip
from vigil.config import CameraConfig
from vigil.privacy.bundle import write_bundle
from vigil.privacy.manifest import sha256_file, write_manifest
from vigil.privacy.redaction import Subject, redact_clip, subject_from_gallery
from vigil.storage import TmpSpace
from vigil.store.models.faces import Person

MAX_PARALLEL = 2  # redaction is CPU-bound: more at once only slows each down
CUT_SHARE = 0.1  # of a redacted export's progress: cutting is a remux, redaction the rest


@dataclass
class ExportBundle:
    folder: Path  # the caller removes it when the ZIP is no longer wanted
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
            "complete": self.result.complete,
            "gaps": len(self.result.gaps),
            "damaged_segments": len(self.result.damaged),
            "missing_segments": len(self.result.missing),
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
    folder: Path | None = None,
    progress: Progress | None = None,
) -> ExportBundle:
    """Cut, redact (unless told not to), sign and zip into `folder` (default: a new temporary
    one in the capped temporary space, `<data_dir>/tmp`), which is removed on failure and by the
    caller otherwise.
    `progress` is told the fraction done."""
    subject: Subject | None = None
    name = subject_name(ctx, subject_id) if subject_id is not None else None
    if name is not None:
        engine = ctx.face_engine()
        subject = subject_from_gallery(ctx.db, engine.model_name, name, ctx.calibration().threshold)
    if folder is None:
        folder = TmpSpace.from_config(ctx.config).mkdtemp(f"{cam.name}-", what="an export")
    else:
        folder.mkdir(parents=True)
    cut_share = CUT_SHARE if redact else 1.0
    try:
        plain = folder / "original.mp4"
        result = export_clip(
            ctx.db,
            ctx.data_dir,
            cam.name,
            start,
            end,
            plain,
            exact=exact,
            progress=_scaled(progress, 0.0, cut_share),
        )
        stamp = result.start.strftime("%Y%m%dT%H%M%SZ")
        clip = folder / "bundle" / f"{cam.name}-{stamp}{'-redacted' if redact else ''}.mp4"
        clip.parent.mkdir()
        faces_redacted = None
        if redact:
            masks = [[(float(x), float(y)) for x, y in poly] for poly in cam.privacy_masks]
            r = redact_clip(
                plain,
                clip,
                ctx.face_engine(),
                subject=subject,
                masks=masks,
                progress=_scaled(progress, cut_share, 1.0),
            )
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
            footage=result.account(),
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


def _scaled(progress: Progress | None, lo: float, hi: float) -> Progress | None:
    """`progress` for one stage that runs from `lo` to `hi` of the whole."""
    if progress is None:
        return None
    return lambda f: progress(lo + (hi - lo) * f)
