"""Subject-access request: everything Vigil holds about the person in a photo, in one archive.

`subject_access(...)` finds the person: an enrolled person when the photo matches their
templates (then every event linked to them), and, enrolled or not, every unknown-face
sighting whose template matches the photo (those events carry no identity, so similarity is
the only link). Every event still within retention is listed; each snapshot goes into the
archive with every *other* face pixelated (`redaction.redact_image`). `report.txt` says in
plain language what is stored, where, since when, and when it will be deleted;
`events.json` lists the same for machines. The archive gets a signed manifest
(`manifest.write_manifest`) and the request is audited (`Action.subject_access`, with the
stated reason and counts).
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from sqlalchemy import select

from vigil.config import CameraConfig, VigilConfig
from vigil.errors import VigilError
from vigil.faces.calibration import load_calibration
from vigil.faces.engine import FaceEngine
from vigil.faces.objections import ObjectionSummary, matching_objections
from vigil.faces.sightings import search_unknown
from vigil.privacy.audit import Action, AuditLog, ReasonRequired
from vigil.privacy.manifest import write_manifest
from vigil.privacy.redaction import Subject, redact_image
from vigil.store.db import Database
from vigil.store.models import Event, Person, Template

DEFAULT_FOOTAGE_DAYS = CameraConfig.model_fields["retention_days"].default


@dataclass
class SubjectAccessResult:
    archive: Path
    manifest: Path
    person_id: int | None
    person: str | None
    events: int
    snapshots: int
    sightings: int
    report: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    objections: list[ObjectionSummary] = field(default_factory=list)


def _d(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _best_person(
    db: Database, model: str, probe: np.ndarray, threshold: float
) -> tuple[int, str, float, np.ndarray] | None:
    with db.session() as s:
        rows = s.execute(
            select(Template.person_id, Template.embedding).where(Template.model == model)
        ).all()
        names = dict(s.execute(select(Person.id, Person.name)).all())
    if not rows:
        return None
    vecs = np.stack([np.frombuffer(r.embedding, np.float32) for r in rows])
    scores = vecs @ probe
    best: dict[int, float] = {}
    for r, sc in zip(rows, scores, strict=True):
        best[r.person_id] = max(best.get(r.person_id, -1.0), float(sc))
    pid, score = max(best.items(), key=lambda kv: kv[1])
    if score < threshold:
        return None
    mine = vecs[[r.person_id == pid for r in rows]]
    return pid, names[pid], score, mine


def subject_access(
    db: Database,
    config: VigilConfig,
    engine: FaceEngine,
    photo: np.ndarray,
    *,
    reason: str,
    actor: str,
    out: Path,
    source: str = "cli",
    now: datetime | None = None,
) -> SubjectAccessResult:
    """Build the archive `out` (.zip) for the person in `photo`; audited before anything."""
    now = now or datetime.now(UTC)
    data_dir = config.storage.data_dir
    priv = config.privacy
    audit = AuditLog.from_config(config)
    if not reason.strip():  # refuse before searching anything
        raise ReasonRequired(
            "a subject-access request needs a stated reason",
            hint="e.g. --reason 'request by email 2026-12-01, identity checked'",
        )
    probe_obs = engine.single_face(photo, "the photo")
    assert probe_obs.embedding is not None
    probe = probe_obs.embedding.astype(np.float32)
    model = engine.model_name
    threshold = load_calibration(data_dir, model, config.faces.match_threshold).threshold
    found = _best_person(db, model, probe, threshold)
    pid, name = (found[0], found[1]) if found else (None, None)
    sightings = search_unknown(db, probe, model=model, threshold=threshold)
    objections = matching_objections(db, probe, model=model, match_threshold=threshold)
    audit.record(
        db,
        actor=actor,
        action=Action.subject_access,
        reason=reason,
        source=source,
        person=pid,
        target=("archive", str(out)),
        details={
            "enrolled": pid is not None,
            "sightings": len(sightings),
            "objections": len(objections),
        },
    )
    vectors = np.vstack([probe[None], found[3]]) if found else probe[None]
    subject = Subject.from_vectors(name or "subject", vectors, threshold)

    with db.session() as s:
        query = select(Event)
        uids = [x.event_uid for x in sightings]
        if pid is not None:
            query = query.where((Event.person_id == pid) | Event.uid.in_(uids))
        else:
            query = query.where(Event.uid.in_(uids))
        events = list(s.scalars(query.order_by(Event.start)))
        templates = (
            list(s.scalars(select(Template).where(Template.person_id == pid)))
            if pid is not None
            else []
        )
        s.expunge_all()
    footage_days = {c.name: c.retention_days for c in config.cameras}
    rows: list[dict[str, Any]] = []
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.part")
    snapshots = 0
    try:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
            for ev in events:
                end = ev.end or ev.start
                row: dict[str, Any] = {
                    "event": ev.uid,
                    "camera": ev.camera,
                    "kind": str(ev.kind),
                    "start": ev.start.isoformat(),
                    "end": end.isoformat(),
                    "linked_by": "enrolment"
                    if pid is not None and ev.person_id == pid
                    else "similarity (unknown face)",
                    "snapshot": None,
                    "snapshot_deleted_by": (
                        end + timedelta(days=priv.snapshot_retention_days)
                    ).isoformat()
                    if ev.snapshot
                    else None,
                    "event_and_footage_deleted_by": (
                        ev.start + timedelta(days=footage_days.get(ev.camera, DEFAULT_FOOTAGE_DAYS))
                    ).isoformat(),
                }
                if ev.snapshot and (data_dir / ev.snapshot).is_file():
                    img = cv2.imread(str(data_dir / ev.snapshot))
                    if img is not None:
                        red, _ = redact_image(img, engine, subject)
                        ok, jpeg = cv2.imencode(".jpg", red, [cv2.IMWRITE_JPEG_QUALITY, 90])
                        if ok:
                            arc = f"snapshots/{ev.start:%Y%m%dT%H%M%S}_{ev.camera}_{ev.uid}.jpg"
                            z.writestr(arc, jpeg.tobytes())
                            row["snapshot"] = arc
                            snapshots += 1
                rows.append(row)
            report = _report(config, name, templates, sightings, rows, now, objections)
            z.writestr("report.txt", report)
            z.writestr("events.json", json.dumps(rows, indent=2))
        tmp.replace(out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise VigilError(f"cannot write {out}: {exc.strerror or exc}") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    manifest = write_manifest(
        data_dir,
        [out],
        kind="subject_access",
        actor=actor,
        reason=reason,
        details={"events": len(rows), "snapshots": snapshots},
    )
    return SubjectAccessResult(
        out, manifest, pid, name, len(rows), snapshots, len(sightings), report, rows, objections
    )


def _report(
    config: VigilConfig,
    name: str | None,
    templates: list[Template],
    sightings: list[Any],
    rows: list[dict[str, Any]],
    now: datetime,
    objections: list[ObjectionSummary] | None = None,
) -> str:
    p = config.privacy
    site = config.site
    lines = [
        f"Subject-access report from {site.name}"
        + (f", operated by {site.operator}" if site.operator else ""),
        f"Made on {_d(now)}.",
        "",
        "WHAT WE HOLD ABOUT YOU",
    ]
    if name is not None:
        first = min((t.enrolled_at for t in templates), default=None)
        reviews = sorted({t.review_at for t in templates if t.review_at is not None})
        bases = sorted({str(t.legal_basis) for t in templates})
        lines += [
            f"- You are enrolled for face recognition under the name {name!r}, with "
            f"{len(templates)} face template(s) (numbers computed from photos of your face; "
            "the photos themselves are not kept)" + (f", since {_d(first)}" if first else "") + ".",
            f"  Legal basis recorded: {', '.join(bases) or 'none'}.",
            "  Templates are kept until you are removed from the system"
            + (f"; their next review is due on {_d(reviews[0])}." if reviews else "."),
        ]
    else:
        lines.append("- You are not enrolled: no named face template of you is stored.")
    for o in objections or []:
        lines.append(
            f"- Your objection to face recognition, recorded on {_d(o.recorded_at)}"
            + (f" at site {o.origin_site}" if o.origin_site else "")
            + (f" (reference {o.reference})" if o.reference else "")
            + f": we keep one face template of you (no photo, no name), who recorded it "
            f"({o.recorded_by}) and why ({o.reason!r}), only so that your face is never "
            "identified. It is kept as long as the objection stands."
        )
    if sightings:
        last = max(s.seen_at for s in sightings)
        gone = _d(last + timedelta(days=p.unknown_face_days))
        lines.append(
            f"- {len(sightings)} unnamed face template(s) from camera sightings match your photo. "
            f"They carry no name and are deleted {p.unknown_face_days:g} days after "
            f"the sighting (the latest by {gone})."
        )
    if rows:
        cams = sorted({r["camera"] for r in rows})
        lines += [
            f"- {len(rows)} event record(s) (time, camera, and where in the picture a person "
            f"was) from camera(s) {', '.join(cams)}, the first on "
            f"{_d(datetime.fromisoformat(rows[0]['start']))}.",
            f"- {sum(1 for r in rows if r['snapshot'])} still picture(s) of those events, "
            "included in this archive with other people's faces pixelated.",
            "- Video recordings of those cameras at those times, kept for each camera's "
            "footage retention unless held as evidence.",
        ]
    else:
        lines.append("- No event or still picture of you was found within the retention periods.")
    lines += [
        "",
        "WHERE IT IS STORED",
        f"- On this site's recorder ({site.name}), in its database and data folder; nothing "
        "is sent elsewhere by this report.",
        "",
        "WHEN IT WILL BE DELETED",
        f"- Still pictures: {p.snapshot_retention_days:g} days after the event.",
        f"- Unnamed face templates: {p.unknown_face_days:g} days after the sighting "
        f"(why: {p.unknown_faces_purpose.strip()})."
        if p.keeps_unknown_faces
        else "- Unnamed face templates: none is kept for faces that match nobody.",
        "- Event records and video: after the camera's footage retention "
        + ", ".join(f"{c.name}: {c.retention_days:g} days" for c in config.cameras)
        + (" " if config.cameras else "")
        + "(footage held as evidence is kept until the hold ends).",
        f"- The record that this request was made is kept in the audit log "
        f"({p.audit_retention_days:g} days).",
        "",
        "EVENTS (times in UTC; deletion dates are the latest dates)",
    ]
    for r in rows:
        pic = r["snapshot_deleted_by"]
        lines.append(
            f"- {r['start'][:19]}  camera {r['camera']}  ({r['linked_by']}); picture "
            f"{'deleted by ' + pic[:10] if pic else 'none'}"
            f"; record deleted by {r['event_and_footage_deleted_by'][:10]}"
        )
    if site.contact:
        lines += ["", f"Questions, corrections or erasure requests: {site.contact}."]
    return "\n".join(lines) + "\n"
