"""The hub's people (`vigil.hub.gallery`): who is enrolled at the hub, their watchlists,
and where each stands at every site it was sent to: held, still queued, or deleted by the
site itself (who and why, from the site's audit record). Reading needs the `people`
permission; enrolling and removing are for admins only, with a stated reason, audited in the
hub's audit log by the same `vigil.hub.gallery` functions as `vigil hub people`."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from vigil.api.deps import Ctx, PeopleManager, Principal
from vigil.api.limits import ANALYSIS_SLOT
from vigil.api.routes.people import (
    CheckReason,
    check_photos,
    judge_enrolment,
    refused_by_database,
)
from vigil.api.schemas import CheckOut, Name, QualityOut
from vigil.hub import gallery, placement
from vigil.hub.actor import need_reason
from vigil.hub.routes.search import actor, hub_audit_log
from vigil.store.db import Database
from vigil.store.models.faces import LegalBasis
from vigil.store.models.hub import HubPerson
from vigil.store.models.users import Role

router = APIRouter(prefix="/hub", tags=["hub"])


def gallery_admin(p: PeopleManager) -> Principal:
    if p.role is not Role.admin:
        raise HTTPException(403, f"the {p.role.value} role may not change the hub's gallery")
    return p


GalleryAdmin = Annotated[Principal, Depends(gallery_admin)]


def person_name(db: Database, uid: str) -> str:
    with db.session() as s:
        name = s.scalar(select(HubPerson.name).where(HubPerson.uid == uid))
    if name is None:
        raise HTTPException(404, f"no person {uid!r} enrolled at the hub")
    return name


class SitePlacementOut(BaseModel):
    site: str
    state: str  # held | queued | removed_by_site
    removed_at: datetime | None
    removed_by: str | None  # the site's user who deleted them
    removed_reason: str | None


class HubPersonOut(BaseModel):
    uid: str
    name: str
    templates: int
    legal_basis: str
    enrolled_by: str
    enrolled_at: datetime
    review_at: datetime | None
    watchlists: list[str]
    sites: list[str]  # sent to (or queued for)
    removed_at_sites: list[str]  # deleted there by the site itself
    placements: list[SitePlacementOut]


class HubEnrolOut(BaseModel):
    person: HubPersonOut
    added: int = Field(description="Templates added (a photo already enrolled adds none).")
    photos: list[QualityOut]


def _out(p: gallery.HubPersonSummary, placements: list[placement.SitePlacement]) -> HubPersonOut:
    return HubPersonOut(
        **p.__dict__,
        placements=[SitePlacementOut.model_validate(x, from_attributes=True) for x in placements],
    )


def _person(db: Database, uid: str) -> HubPersonOut:
    found = next((x for x in gallery.list_people(db) if x.uid == uid), None)
    if found is None:
        raise HTTPException(404, f"no person {uid!r} enrolled at the hub")
    return _out(found, placement.person_placements(db, uid))


@router.get(
    "/people",
    response_model=list[HubPersonOut],
    summary="People enrolled at the hub and where they stand at each site",
)
def people(p: PeopleManager, ctx: Ctx) -> list[HubPersonOut]:
    where = placement.placements(ctx.db)
    return [_out(x, where.get(x.uid, [])) for x in gallery.list_people(ctx.db)]


@router.get(
    "/people/{uid}",
    response_model=HubPersonOut,
    summary="One hub person and where they stand at each site",
)
def person(uid: str, p: PeopleManager, ctx: Ctx) -> HubPersonOut:
    return _person(ctx.db, uid)


@router.post(
    "/people/check",
    dependencies=[ANALYSIS_SLOT],  # a turn in the photo-analysis pool, else 503
    response_model=CheckOut,
    summary="Judge photos for enrolment at the hub without storing them (admin)",
)
def check(
    p: GalleryAdmin,
    ctx: Ctx,
    request: Request,
    photos: Annotated[list[UploadFile], File()],
    reason: CheckReason,
) -> CheckOut:
    return check_photos(ctx, request, p, photos, reason)


@router.post(
    "/people",
    dependencies=[ANALYSIS_SLOT],  # a turn in the photo-analysis pool, else 503
    response_model=HubEnrolOut,
    status_code=201,
    summary="Enrol a person at the hub from photos, with a legal basis and a reason (admin)",
    description="Every photo must show one clear face that passes the quality gate, or nothing "
    "is stored. Audited with the reason; the person goes to the sites named by the watchlists "
    "they are put on.",
    responses={422: {"description": "A photo was refused, or the reason or note is missing."}},
)
def enrol(
    p: GalleryAdmin,
    ctx: Ctx,
    request: Request,
    name: Annotated[Name, Form()],
    legal_basis: Annotated[LegalBasis, Form()],
    reason: Annotated[str, Form(max_length=500, description="Why (audited).")],
    photos: Annotated[list[UploadFile], File()],
    note: Annotated[str, Form(max_length=2000)] = "",
    review_at: Annotated[date | None, Form()] = None,
) -> HubEnrolOut | JSONResponse:
    reason = need_reason(reason, "enrolling at the hub")  # refused before any photo is read
    verdicts = judge_enrolment(ctx, photos, legal_basis, note)
    if isinstance(verdicts, JSONResponse):
        return verdicts
    model = ctx.face_engine().model_name
    templates = [
        gallery.TemplateIn(
            ph.observation.embedding,  # type: ignore[arg-type]  # judged photos are embedded
            ph.sha256,
            ph.observation.quality.score,
            model,
        )
        for _, ph in verdicts
        if ph is not None
    ]
    with refused_by_database("nothing was enrolled"):
        uid, added = gallery.enrol(
            ctx.db,
            hub_audit_log(ctx),
            actor(p, request),
            name,
            templates,
            legal_basis=legal_basis,
            legal_basis_note=note,
            review_at=datetime.combine(review_at, time(), UTC) if review_at else None,
            reason=reason,
        )
    return HubEnrolOut(person=_person(ctx.db, uid), added=added, photos=[q for q, _ in verdicts])


@router.delete(
    "/people/{uid}",
    status_code=204,
    summary="Remove a person at the hub and at every site they were sent to (admin)",
    description="A reason is required and audited. Their identity is cleared from the hub's "
    "events; each site they were sent to is told to delete them.",
)
def remove(
    uid: str,
    p: GalleryAdmin,
    ctx: Ctx,
    request: Request,
    reason: Annotated[str, Query(max_length=500)] = "",
) -> Response:
    reason = need_reason(reason, "removing a person at the hub")
    name = person_name(ctx.db, uid)
    with refused_by_database("nobody was removed"):
        gallery.remove_person(ctx.db, hub_audit_log(ctx), actor(p, request), name, reason=reason)
    return Response(status_code=204)
