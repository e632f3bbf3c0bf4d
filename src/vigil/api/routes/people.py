"""Enrolled people: list, check photos, enrol by upload (with legal basis), remove."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from vigil.api.auditing import AuditEntry
from vigil.api.context import ApiContext
from vigil.api.deps import Ctx, Id, PeopleManager, Principal, audit, client_address
from vigil.api.limits import ANALYSIS_SLOT
from vigil.api.schemas import CheckOut, EnrolOut, Name, PersonOut, QualityOut
from vigil.errors import InputError
from vigil.faces.engine import FaceEngine, FaceObservation
from vigil.faces.gallery import AuditHook, EnrolmentPhoto, PersonSummary, check_legal_basis
from vigil.privacy.audit import Action, ReasonRequired
from vigil.store.models.faces import LegalBasis, Person
from vigil.vision.image import load_image

router = APIRouter(prefix="/people", tags=["people"])
log = logging.getLogger(__name__)

MAX_UPLOAD = 20 * 1024 * 1024
MAX_PHOTOS = 20


def read_upload(f: UploadFile) -> tuple[str, bytes]:
    label = (f.filename or "photo")[:200]
    data = f.file.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        raise InputError(f"{label}: larger than {MAX_UPLOAD // (1024 * 1024)} MB")
    if not data:
        raise InputError(f"{label}: empty file")
    return label, data


def judge(engine: FaceEngine, f: UploadFile) -> tuple[QualityOut, EnrolmentPhoto | None]:
    """The quality verdict of one uploaded portrait, and the photo when it can be enrolled."""
    label = (f.filename or "photo")[:200]
    try:
        label, data = read_upload(f)
        obs: FaceObservation = engine.single_face(load_image(data, label=label), label)
    except InputError as exc:
        return QualityOut(file=label, ok=False, problems=[exc.message]), None
    q = obs.quality
    out = QualityOut(
        file=label, ok=q.ok, score=q.score, problems=list(q.problems), face_px=round(q.size_px, 1)
    )
    photo = EnrolmentPhoto(label, hashlib.sha256(data).hexdigest(), obs) if q.ok else None
    return out, photo


def refused_photos(
    verdicts: list[tuple[QualityOut, EnrolmentPhoto | None]],
) -> JSONResponse | None:
    """A 422 naming every refused photo (with every verdict, for the page), or None when all
    pass: an enrolment stores all of its photos or none."""
    refused = [q for q, ph in verdicts if ph is None]
    if not refused:
        return None
    msg = "nothing was enrolled; refused: " + "; ".join(
        f"{q.file}: {', '.join(q.problems)}" for q in refused
    )
    return JSONResponse(
        status_code=422, content={"detail": msg, "photos": [q.model_dump() for q, _ in verdicts]}
    )


Verdicts = list[tuple[QualityOut, EnrolmentPhoto | None]]


def judge_enrolment(
    ctx: ApiContext, photos: list[UploadFile], legal_basis: LegalBasis, note: str
) -> Verdicts | JSONResponse:
    """Every photo's verdict for an enrolment (the site's and the hub's), the legal basis and
    the number of photos checked first; the 422 of `refused_photos` when any photo fails."""
    check_legal_basis(legal_basis, note)
    check_count(photos)
    engine = ctx.face_engine()
    verdicts = [judge(engine, f) for f in photos]
    refusal = refused_photos(verdicts)
    return verdicts if refusal is None else refusal


def person_out(s: PersonSummary) -> PersonOut:
    return PersonOut(
        id=s.id,
        name=s.name,
        templates=s.templates,
        legal_bases=s.legal_bases,
        enrolled_at=s.enrolled_at,
        enrolled_by=s.enrolled_by,
    )


def audit_hook(
    ctx: ApiContext,
    request: Request,
    p: Principal,
    action: Action,
    reason: str = "",
    details: dict[str, Any] | None = None,
) -> AuditHook:
    """An audit record written inside the gallery change's own transaction (as the CLI's)."""

    def hook(session: Session, person_id: int, templates: int) -> None:
        entry = AuditEntry(
            actor=p.username,
            role=p.role.value,
            action=action,
            reason=reason,
            target_kind="person",
            target_id=str(person_id),
            person=person_id,
            source=client_address(request),
            details={**(details or {}), "templates": templates},
        )
        ctx.record(entry, session)

    return hook


@contextmanager
def refused_by_database(what: str) -> Iterator[None]:
    """A failed write (the change or its audit record) rolled both back: say so, as a 503."""
    try:
        yield
    except SQLAlchemyError as exc:
        log.error("gallery change rolled back: %s", exc)
        raise HTTPException(
            503,
            f"{what}: the database refused the change or its audit record ({type(exc).__name__})",
        ) from exc


@router.get("", response_model=list[PersonOut], summary="Every enrolled person")
def list_people(p: PeopleManager, ctx: Ctx) -> list[PersonOut]:
    return [person_out(s) for s in ctx.gallery().people()]


def stated_reason(reason: str, what: str) -> str:
    """`reason` stripped; ReasonRequired (422) when shorter than 3 characters."""
    reason = reason.strip()
    if len(reason) < 3:
        raise ReasonRequired(f"{what} needs a stated reason (at least 3 characters); it is audited")
    return reason


CheckReason = Annotated[
    str, Form(max_length=500, description="Why these photos are processed (audited).")
]


def check_count(photos: list[UploadFile]) -> None:
    if not photos:
        raise InputError("upload at least one photo")
    if len(photos) > MAX_PHOTOS:
        raise InputError(f"upload at most {MAX_PHOTOS} photos at a time")


@router.post(
    "/check",
    dependencies=[ANALYSIS_SLOT],  # a turn in the photo-analysis pool, else 503
    response_model=CheckOut,
    summary="Judge photos for enrolment (face found, size, sharpness, pose) without storing",
)
def check(
    p: PeopleManager,
    ctx: Ctx,
    request: Request,
    photos: Annotated[list[UploadFile], File()],
    reason: CheckReason,
) -> CheckOut:
    return check_photos(ctx, request, p, photos, reason)


def check_photos(
    ctx: ApiContext, request: Request, p: Principal, photos: list[UploadFile], reason: str
) -> CheckOut:
    """Every photo's verdict, nothing stored (the site's and the hub's `people/check`). Faces
    are processed, so a reason is required (before any photo is read) and the check audited."""
    reason = stated_reason(reason, "checking photos for enrolment")
    check_count(photos)
    engine = ctx.face_engine()
    out = CheckOut(photos=[judge(engine, f)[0] for f in photos])
    passed = sum(q.ok for q in out.photos)
    details = {"photos": len(out.photos), "passed": passed}
    audit(ctx, request, p, Action.check_photos, reason=reason, details=details)
    return out


@router.post(
    "",
    dependencies=[ANALYSIS_SLOT],  # a turn in the photo-analysis pool, else 503
    response_model=EnrolOut,
    status_code=201,
    summary="Enrol a person from photos, with a legal basis (all photos must pass)",
    responses={422: {"description": "A photo was refused, or the legal basis needs a note."}},
)
def enrol(
    p: PeopleManager,
    ctx: Ctx,
    request: Request,
    name: Annotated[Name, Form()],
    legal_basis: Annotated[LegalBasis, Form()],
    photos: Annotated[list[UploadFile], File()],
    note: Annotated[str, Form(max_length=2000)] = "",
    reason: Annotated[str, Form(max_length=500, description="Why (audited).")] = "",
) -> EnrolOut | JSONResponse:
    verdicts = judge_enrolment(ctx, photos, legal_basis, note)
    if isinstance(verdicts, JSONResponse):
        return verdicts
    good = [ph for _, ph in verdicts if ph is not None]
    gallery = ctx.gallery()
    hook = audit_hook(
        ctx,
        request,
        p,
        Action.enroll,
        reason=reason.strip(),
        details={"legal_basis": legal_basis.value},
    )
    with refused_by_database("nothing was enrolled"):
        added = gallery.enroll(
            name,
            good,
            legal_basis=legal_basis,
            legal_basis_note=note,
            enrolled_by=p.username,
            audit=hook,
        )
    summary = next(s for s in gallery.people() if s.name == name)
    return EnrolOut(person=person_out(summary), added=added, photos=[q for q, _ in verdicts])


@router.delete(
    "/{person_id}",
    status_code=204,
    summary="Remove a person and every template (their identity is cleared from events)",
    description="A reason is required; it goes into the `remove_person` audit record, written "
    "in the removal's own transaction.",
)
def remove(
    person_id: Id,
    p: PeopleManager,
    ctx: Ctx,
    request: Request,
    reason: Annotated[str, Query(max_length=500, description="Why (required, audited).")],
) -> Response:
    reason = stated_reason(reason, "removing a person")
    with ctx.db.session() as s:
        person = s.get(Person, person_id)
        name = person.name if person else None
    if name is None:
        raise HTTPException(404, f"no enrolled person with id {person_id}")
    hook = audit_hook(ctx, request, p, Action.remove_person, reason=reason)
    with refused_by_database("nobody was removed"):
        ctx.gallery().remove(name, audit=hook)
    return Response(status_code=204)
