"""The hub's people (`vigil.sync.hub_gallery`): who is enrolled at the hub, their watchlists,
and where each stands at every site it was sent to: held, still queued, or deleted by the
site itself (who and why, from the site's audit record). `people` permission."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel

from vigil.api.deps import Ctx, PeopleManager
from vigil.sync import hub_gallery as hg

router = APIRouter(prefix="/hub", tags=["hub"])


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


class SitePlacementOut(BaseModel):
    site: str
    state: str  # held | queued | removed_by_site
    removed_at: datetime | None
    removed_by: str | None  # the site's user who deleted them
    removed_reason: str | None


class HubPersonDetailOut(HubPersonOut):
    placements: list[SitePlacementOut]


def _out(p: hg.HubPersonSummary) -> HubPersonOut:
    return HubPersonOut(**p.__dict__)


@router.get("/people", response_model=list[HubPersonOut], summary="People enrolled at the hub")
def people(p: PeopleManager, ctx: Ctx) -> list[HubPersonOut]:
    return [_out(x) for x in hg.list_people(ctx.db)]


@router.get(
    "/people/{uid}",
    response_model=HubPersonDetailOut,
    summary="One hub person and where they stand at each site",
)
def person(uid: str, p: PeopleManager, ctx: Ctx) -> HubPersonDetailOut:
    found = next((x for x in hg.list_people(ctx.db) if x.uid == uid), None)
    if found is None:
        raise HTTPException(404, f"no person {uid!r} enrolled at the hub")
    placements = [
        SitePlacementOut(
            site=x.site,
            state=x.state,
            removed_at=x.removed_at,
            removed_by=x.removed_by,
            removed_reason=x.removed_reason,
        )
        for x in hg.person_placements(ctx.db, uid)
    ]
    return HubPersonDetailOut(**_out(found).model_dump(), placements=placements)
