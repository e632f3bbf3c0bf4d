"""Enrolled people: list, check photos, enrol by upload (with legal basis), remove."""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import APIRouter, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response

from vigil.api.deps import Ctx, Id, PeopleManager, audit
from vigil.api.schemas import CheckOut, EnrolOut, PersonOut, QualityOut
from vigil.errors import InputError
from vigil.faces.engine import FaceEngine, FaceObservation
from vigil.faces.gallery import EnrolmentPhoto, PersonSummary, check_legal_basis
from vigil.privacy.audit import Action
from vigil.store.models.faces import LegalBasis, Person
from vigil.vision.image import load_image

router = APIRouter(prefix="/people", tags=["people"])

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


def person_out(s: PersonSummary) -> PersonOut:
    return PersonOut(
        id=s.id,
        name=s.name,
        templates=s.templates,
        legal_bases=s.legal_bases,
        enrolled_at=s.enrolled_at,
        enrolled_by=s.enrolled_by,
    )


@router.get("", response_model=list[PersonOut], summary="Every enrolled person")
def list_people(p: PeopleManager, ctx: Ctx) -> list[PersonOut]:
    return [person_out(s) for s in ctx.gallery().people()]


def _check_count(photos: list[UploadFile]) -> None:
    if not photos:
        raise InputError("upload at least one photo")
    if len(photos) > MAX_PHOTOS:
        raise InputError(f"upload at most {MAX_PHOTOS} photos at a time")


@router.post(
    "/check",
    response_model=CheckOut,
    summary="Judge photos for enrolment (face found, size, sharpness, pose) without storing",
)
def check(p: PeopleManager, ctx: Ctx, photos: Annotated[list[UploadFile], File()]) -> CheckOut:
    _check_count(photos)
    engine = ctx.face_engine()
    return CheckOut(photos=[judge(engine, f)[0] for f in photos])


@router.post(
    "",
    response_model=EnrolOut,
    status_code=201,
    summary="Enrol a person from photos, with a legal basis (all photos must pass)",
    responses={422: {"description": "A photo was refused, or the legal basis needs a note."}},
)
def enrol(
    p: PeopleManager,
    ctx: Ctx,
    request: Request,
    name: Annotated[str, Form(min_length=1, max_length=200)],
    legal_basis: Annotated[LegalBasis, Form()],
    photos: Annotated[list[UploadFile], File()],
    note: Annotated[str, Form(max_length=2000)] = "",
) -> EnrolOut | JSONResponse:
    name = name.strip()
    if not name:
        raise InputError("a person needs a name")
    check_legal_basis(legal_basis, note)
    _check_count(photos)
    engine = ctx.face_engine()
    verdicts = [judge(engine, f) for f in photos]
    refused = [q for q, ph in verdicts if ph is None]
    if refused:
        msg = "nothing was enrolled; refused: " + "; ".join(
            f"{q.file}: {', '.join(q.problems)}" for q in refused
        )
        return JSONResponse(
            status_code=422,
            content={"detail": msg, "photos": [q.model_dump() for q, _ in verdicts]},
        )
    good = [ph for _, ph in verdicts if ph is not None]
    gallery = ctx.gallery()
    added = gallery.enroll(
        name, good, legal_basis=legal_basis, legal_basis_note=note, enrolled_by=p.username
    )
    summary = next(s for s in gallery.people() if s.name == name)
    audit(
        ctx,
        request,
        p,
        Action.enroll,
        target_kind="person",
        target_id=str(summary.id),
        person=summary.id,
        details={"templates_added": added, "legal_basis": legal_basis.value},
    )
    return EnrolOut(person=person_out(summary), added=added, photos=[q for q, _ in verdicts])


@router.delete(
    "/{person_id}",
    status_code=204,
    summary="Remove a person and every template (their identity is cleared from events)",
)
def remove(
    person_id: Id,
    p: PeopleManager,
    ctx: Ctx,
    request: Request,
    reason: Annotated[str, Query(max_length=500)] = "",
) -> Response:
    with ctx.db.session() as s:
        person = s.get(Person, person_id)
        name = person.name if person else None
    if name is None:
        raise HTTPException(404, f"no enrolled person with id {person_id}")
    n = ctx.gallery().remove(name)
    audit(
        ctx,
        request,
        p,
        Action.remove_person,
        reason=reason,
        target_kind="person",
        target_id=str(person_id),
        person=person_id,
        details={"templates_deleted": n},
    )
    return Response(status_code=204)
