"""Objections to recognition and withdrawals of consent (`vigil.faces.objections`).

`POST /objections` records an objection from the person's photo (the enrolment photo checks
and limits; reason required; audited `objection_recorded`): their face is never identified
again here or, through the hub, at any site; the photo is not kept. `POST /people/{id}/
withdraw` removes an enrolled person at once (the removal path; audited `consent_withdrawn`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from vigil.api.auditing import AuditEntry
from vigil.api.deps import Ctx, Id, PeopleManager, client_address
from vigil.api.limits import ANALYSIS_SLOT
from vigil.api.routes.people import (
    audit_hook,
    judge,
    refused_by_database,
    refused_photos,
    stated_reason,
)
from vigil.faces.objections import RecordedObjection, list_objections, record_objection
from vigil.privacy.audit import Action
from vigil.store.models.faces import Person

router = APIRouter(tags=["objections"])


class ObjectionOut(BaseModel):
    uid: str
    reference: str
    reason: str
    recorded_by: str
    recorded_at: datetime
    origin_site: str | None = Field(description="None: recorded here; else the site, via the hub.")


class ObjectionRecordedOut(BaseModel):
    objection: ObjectionOut
    unknown_faces_deleted: int
    enrolled_withheld: list[str] = Field(
        description="Enrolled people this face matches: no longer identified (withdraw them)."
    )


class WithdrawnOut(BaseModel):
    person: str
    templates_deleted: int


Reason = Annotated[str, Form(max_length=500, description="Why (required, audited).")]


@router.get("/objections", response_model=list[ObjectionOut], summary="Objections on file")
def objections(p: PeopleManager, ctx: Ctx) -> list[ObjectionOut]:
    return [ObjectionOut(**o.__dict__) for o in list_objections(ctx.db)]


@router.post(
    "/objections",
    dependencies=[ANALYSIS_SLOT],  # a turn in the photo-analysis pool, else 503
    response_model=ObjectionRecordedOut,
    status_code=201,
    summary="Record an objection to recognition from the person's photo (photo not kept)",
    responses={422: {"description": "No reason, or the photo was refused."}},
)
def record(
    p: PeopleManager,
    ctx: Ctx,
    request: Request,
    photo: Annotated[UploadFile, File()],
    reason: Reason,
    reference: Annotated[str, Form(max_length=200)] = "",
) -> ObjectionRecordedOut | JSONResponse:
    reason = stated_reason(reason, "recording an objection")
    verdict = judge(ctx.face_engine(), photo)
    refusal = refused_photos([verdict])
    if refusal is not None:
        return refusal
    face = verdict[1]
    assert face is not None and face.observation.embedding is not None

    def audit(s: Session, r: RecordedObjection) -> None:
        entry = AuditEntry(
            actor=p.username,
            role=p.role.value,
            action=Action.objection_recorded,
            reason=r.objection.reason,
            target_kind="objection",
            target_id=r.objection.uid,
            source=client_address(request),
            details=r.audit_details(),
        )
        ctx.record(entry, s)

    with refused_by_database("no objection was recorded"):
        r = record_objection(
            ctx.db,
            face.observation.embedding,
            model=ctx.face_engine().model_name,
            match_threshold=ctx.calibration().threshold,
            reason=reason,
            recorded_by=p.username,
            reference=reference,
            audit=audit,
        )
    return ObjectionRecordedOut(
        objection=ObjectionOut(**r.objection.__dict__),
        unknown_faces_deleted=r.unknown_deleted,
        enrolled_withheld=r.enrolled,
    )


@router.post(
    "/people/{person_id}/withdraw",
    response_model=WithdrawnOut,
    summary="Withdrawal of consent: remove the person and every template at once",
)
def withdraw(
    person_id: Id, p: PeopleManager, ctx: Ctx, request: Request, reason: Reason
) -> WithdrawnOut:
    reason = stated_reason(reason, "a withdrawal of consent")
    with ctx.db.session() as s:
        person = s.get(Person, person_id)
        name = person.name if person else None
    if name is None:
        raise HTTPException(404, f"no enrolled person with id {person_id}")
    hook = audit_hook(ctx, request, p, Action.consent_withdrawn, reason=reason)
    with refused_by_database("nobody was removed"):
        n = ctx.gallery().remove(name, audit=hook)
    return WithdrawnOut(person=name, templates_deleted=n)
