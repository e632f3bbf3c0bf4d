"""The one export core: cut a camera's footage, redact it, sign it (and zip it), for the CLI
(`vigil export`), the API (export jobs) and the hub (the site's `clip` verb) alike.

What it promises, whichever entry point asks:
- **Redacted unless the original is asked for.** `ExportRequest.redact` defaults to true: every
  face but the subject's pixelated, the camera's privacy masks blacked out. The unredacted
  original comes only from `redact=False` (CLI `--original`, API `redact: false`, hub
  `redact: false`).
- **One audit record, the same everywhere**, written by the entry point before any footage is
  cut: action `export`, target and camera the camera, the actor, the reason, and
  `ExportRequest.audit_details()` (range, exact, redacted, subject, via). `audit_export`
  writes it to the chain; the API writes the same fields through its audit sink, with the
  caller's address.
- **A signed manifest** (`privacy/manifest.py`, the site key) naming camera, range, who, reason,
  redaction, each file's SHA-256, and `footage`: what the clip holds of the range asked for
  (complete, seconds held, gaps, damaged and missing segments). Every segment read is checked
  against its recorded SHA-256 on the way (`camera/export.py`).
- **Nothing half-written under the asked name**: a failure removes the clip and its manifest
  (`export_file`) or the whole folder (`export_bundle`); the cut original of a redacted export
  never outlives it.

Errors are Vigil's own (`vigil.errors`: `NoFootageError` is a `NotFoundError`, a bad request an
`InputError`, `TmpFull` when the temporary space is short); each entry point maps them (the API
to HTTP statuses). Everything here blocks (remux, decode, face detection, re-encode): run it in
a worker thread from async code.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from vigil.camera.export import ExportResult, Progress, export_clip
from vigil.config import CameraConfig, VigilConfig
from vigil.errors import InputError, NotFoundError
from vigil.faces.engine import FaceEngine
from vigil.privacy.audit import Action, AuditLog, AuditRecord
from vigil.privacy.bundle import write_bundle
from vigil.privacy.manifest import manifest_path, sha256_file, write_manifest
from vigil.privacy.redaction import Subject, redact_clip, subject_from_gallery
from vigil.storage import TmpSpace
from vigil.store.db import Database
from vigil.store.models.faces import Person

MAX_PARALLEL = 2  # redaction is CPU-bound: more at once only slows each down
CUT_SHARE = 0.1  # of a redacted export's progress: cutting is a remux, redaction the rest
AUDIT_ACTION = Action.export
AUDIT_TARGET = "camera"  # target kind of the export record; its id is the camera's name

Polygon = tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class ExportRequest:
    """What one export is asked to do, by whom and why."""

    camera: str
    start: datetime
    end: datetime
    actor: str
    reason: str
    redact: bool = True  # the one default: redacted; the original only on request
    subject: str | None = None  # an enrolled person left visible (redacted exports only)
    exact: bool = False  # re-encode to cut exactly (default: remux from the keyframe before)
    detect_every: int = 1  # redaction: detect faces every N frames
    masks: tuple[Polygon, ...] = ()  # the camera's privacy masks (fractions of the frame)
    via: str = "api"  # the entry point: cli, api or hub

    @classmethod
    def of(cls, cam: CameraConfig, start: datetime, end: datetime, **kw: Any) -> ExportRequest:
        """A request for a configured camera, with its privacy masks."""
        return cls(cam.name, start, end, masks=_polygons(cam), **kw)

    def checked(self) -> ExportRequest:
        """This request, or `InputError` saying what is wrong with it."""
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise InputError("start and end need a time zone (e.g. 2026-01-01T10:00:00Z)")
        if self.end <= self.start:
            raise InputError("end must be after start")
        if self.subject is not None and not self.redact:
            raise InputError("a subject only applies to a redacted export (they stay visible)")
        if self.detect_every < 1:
            raise InputError("detect faces every 1 frame or more")
        return self

    def audit_details(self) -> dict[str, Any]:
        """The details of the export's audit record: the same keys from every entry point."""
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "exact": self.exact,
            "redacted": self.redact,
            "subject": self.subject,
            "via": self.via,
        }


def audit_export(
    log: AuditLog,
    where: Database | Session,
    req: ExportRequest,
    *,
    source: str,
    role: str = "",
    extra: Mapping[str, Any] | None = None,
) -> AuditRecord:
    """Write the export's audit record to the chain (`where`: a database or a session).
    Refuses (`ReasonRequired`) an export without a reason. Call it before cutting."""
    return log.record(
        where,
        actor=req.actor,
        role=role,
        action=AUDIT_ACTION,
        reason=req.reason,
        target=(AUDIT_TARGET, req.camera),
        camera=req.camera,
        source=source,
        details={**req.audit_details(), **(extra or {})},
    )


@dataclass(frozen=True)
class ExportSite:
    """What an export reads and signs with: the site's config (data folder, temporary space,
    match threshold), its database (segment index, gallery) and its face engine, loaded only
    when a clip is redacted."""

    config: VigilConfig
    db: Database
    face_engine: Callable[[], FaceEngine]

    @property
    def data_dir(self) -> Path:
        return Path(self.config.storage.data_dir)

    def subject(self, name: str) -> Subject:
        """The enrolled person `name`, to leave visible (`NotFoundError` if not enrolled)."""
        from vigil.faces.calibration import load_calibration

        engine = self.face_engine()
        threshold = load_calibration(
            self.data_dir, engine.model_name, self.config.faces.match_threshold
        ).threshold
        return subject_from_gallery(self.db, engine.model_name, name, threshold)


def person_name(db: Database, person_id: int) -> str:
    """The name of the enrolled person `person_id` (the API names subjects by id)."""
    with db.session() as s:
        person = s.get(Person, person_id)
        if person is None:
            raise NotFoundError(f"no enrolled person with id {person_id}")
        return person.name


@dataclass(frozen=True)
class SignedClip:
    clip: Path
    manifest: Path
    result: ExportResult
    redacted: bool
    subject: str | None
    faces_redacted: int | None


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
        """What the bundle holds, for the records of its hand-overs (downloads)."""
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


def export_file(
    site: ExportSite,
    req: ExportRequest,
    out: Path,
    *,
    manifest: Path | None = None,
    progress: Progress | None = None,
) -> SignedClip:
    """Cut, redact (unless `req.redact` is false) and sign `req`'s clip into `out`, with its
    manifest at `manifest` (default `<out>.manifest.json`). `progress` is told the fraction
    done. On failure neither is left behind."""
    cut = out.with_name(f".{out.name}.original.mp4")
    return _cut_redact_sign(site, req, cut, lambda _: out, manifest, progress)


def export_bundle(
    site: ExportSite,
    req: ExportRequest,
    *,
    folder: Path | None = None,
    progress: Progress | None = None,
) -> ExportBundle:
    """`export_file` into a ZIP of the clip (`<camera>-<start>[-redacted].mp4`) and its
    `manifest.json`, in `folder` (default: a new one in the capped temporary space,
    `<data_dir>/tmp`), which is removed on failure and by the caller otherwise."""
    if folder is None:
        folder = TmpSpace.from_config(site.config).mkdtemp(f"{req.camera}-", what="an export")
    else:
        folder.mkdir(parents=True)
    inside = folder / "bundle"

    def clip_path(result: ExportResult) -> Path:
        stamp = result.start.strftime("%Y%m%dT%H%M%SZ")
        return inside / f"{req.camera}-{stamp}{'-redacted' if req.redact else ''}.mp4"

    try:
        inside.mkdir()
        signed = _cut_redact_sign(
            site, req, folder / "original.mp4", clip_path, inside / "manifest.json", progress
        )
        zipped = write_bundle(folder / f"{signed.clip.stem}.zip", [signed.clip], signed.manifest)
        return ExportBundle(
            folder,
            zipped,
            signed.clip.name,
            signed.result,
            signed.redacted,
            signed.subject,
            signed.faces_redacted,
            sha256_file(signed.manifest),
        )
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def _cut_redact_sign(
    site: ExportSite,
    req: ExportRequest,
    cut: Path,
    place: Callable[[ExportResult], Path],
    manifest: Path | None,
    progress: Progress | None,
) -> SignedClip:
    """Cut into `cut` (on the clip's filesystem: the original is renamed, not copied), redact
    (or rename) it to `place(result)` (named once the cut says where it really starts), sign
    the manifest."""
    req = req.checked()
    subject = site.subject(req.subject) if req.subject is not None else None  # before cutting
    cut_share = CUT_SHARE if req.redact else 1.0
    clip: Path | None = None
    try:
        result = export_clip(
            site.db,
            site.data_dir,
            req.camera,
            req.start,
            req.end,
            cut,
            exact=req.exact,
            progress=_scaled(progress, 0.0, cut_share),
        )
        clip = place(result)
        faces_redacted = None
        if req.redact:
            r = redact_clip(
                cut,
                clip,
                site.face_engine(),
                subject=subject,
                masks=[list(p) for p in req.masks],
                detect_every=req.detect_every,
                progress=_scaled(progress, cut_share, 1.0),
            )
            faces_redacted = r.faces_redacted
        else:
            cut.replace(clip)
        signed = write_manifest(
            site.data_dir,
            [clip],
            kind="redacted_clip" if req.redact else "clip",
            actor=req.actor,
            reason=req.reason,
            camera=req.camera,
            start=result.start,
            end=result.end,
            details={
                "mode": result.mode,
                "frames": result.frames,
                "redacted": req.redact,
                "subject": req.subject,
                "faces_redacted": faces_redacted,
                "detect_every": req.detect_every if req.redact else None,
                "via": req.via,
            },
            footage=result.account(),
            out=manifest,
        )
    except BaseException:
        if clip is not None:  # never a clip (or its manifest) under the asked name unsigned
            clip.unlink(missing_ok=True)
            (manifest or manifest_path(clip)).unlink(missing_ok=True)
        raise
    finally:
        cut.unlink(missing_ok=True)
    result = replace(result, path=clip, size=clip.stat().st_size)  # what was handed over
    return SignedClip(clip, signed, result, req.redact, req.subject, faces_redacted)


def _scaled(progress: Progress | None, lo: float, hi: float) -> Progress | None:
    """`progress` for one stage that runs from `lo` to `hi` of the whole."""
    if progress is None:
        return None
    return lambda f: progress(lo + (hi - lo) * f)


def masks_of(config: VigilConfig, camera: str) -> tuple[Polygon, ...]:
    """The privacy masks of `camera` in vigil.yaml; none for a camera no longer configured
    (its old footage is still redacted: every face pixelated)."""
    cam = next((c for c in config.cameras if c.name == camera), None)
    return _polygons(cam) if cam is not None else ()


def _polygons(cam: CameraConfig) -> tuple[Polygon, ...]:
    return tuple(tuple((float(x), float(y)) for x, y in p) for p in cam.privacy_masks)
