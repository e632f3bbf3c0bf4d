"""The hub's watchlists (`vigil.hub.gallery`): each names the sites it and its members go
to. Reading needs the `people` permission; changes are for admins only and are audited as
`change_watchlist` by the same functions as `vigil hub watchlist`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from vigil.api.context import ApiContext
from vigil.api.deps import Ctx, PeopleManager, Principal
from vigil.api.routes.people import refused_by_database
from vigil.api.schemas import Name
from vigil.errors import InputError
from vigil.events.verification import MAX_CONFIRMATIONS
from vigil.hub import gallery
from vigil.hub.context import get_hub
from vigil.hub.routes.people import GalleryAdmin, actor, person_name
from vigil.hub.routes.search import hub_audit_log
from vigil.store.db import Database
from vigil.store.models.events import WatchAction

router = APIRouter(prefix="/hub/watchlists", tags=["hub"])

Sites = Annotated[list[str], Field(max_length=500)]
Confirmations = Annotated[
    int | None,
    Field(
        ge=0,
        le=MAX_CONFIRMATIONS,
        description="People who confirm a match at a site before it is acted on; "
        "null: each site's default (2 for alert lists)",
    ),
]


class HubWatchlistOut(BaseModel):
    uid: str
    name: str
    action: str
    sites: list[str]
    members: list[str]  # names
    confirmations_required: int | None = None


class HubWatchlistIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    action: WatchAction = WatchAction.notify
    sites: Sites = []
    notes: Annotated[str, Field(max_length=2000)] = ""
    confirmations_required: Confirmations = None


class HubWatchlistPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: WatchAction | None = None
    sites: Sites | None = Field(None, description="Every site it names from now on.")
    confirmations_required: Confirmations = None


def _find(db: Database, uid: str) -> gallery.HubWatchlistSummary:
    found = next((w for w in gallery.list_watchlists(db) if w.uid == uid), None)
    if found is None:
        raise HTTPException(404, f"no hub watchlist {uid!r}")
    return found


def _admitted(request: Request, sites: list[str]) -> list[str]:
    """The sites, refused when this hub admits none of that name (a typo would wait forever)."""
    admitted = get_hub(request).sites
    unknown = sorted(set(sites) - set(admitted))
    if admitted and unknown:
        raise InputError(
            f"this hub admits no site {', '.join(unknown)} (it admits {', '.join(admitted)})"
        )
    return sites


def _out(w: gallery.HubWatchlistSummary) -> HubWatchlistOut:
    return HubWatchlistOut(**w.__dict__)


@router.get("", response_model=list[HubWatchlistOut], summary="Hub watchlists and their sites")
def watchlists(p: PeopleManager, ctx: Ctx) -> list[HubWatchlistOut]:
    return [_out(w) for w in gallery.list_watchlists(ctx.db)]


@router.post(
    "",
    response_model=HubWatchlistOut,
    status_code=201,
    summary="Create a hub watchlist naming the sites it goes to (admin)",
)
def create(body: HubWatchlistIn, p: GalleryAdmin, ctx: Ctx, request: Request) -> HubWatchlistOut:
    sites = _admitted(request, body.sites)
    with refused_by_database("no watchlist was created"):  # e.g. the same name, at once
        uid = gallery.create_watchlist(
            ctx.db,
            hub_audit_log(ctx),
            actor(p, request),
            body.name,
            action=body.action,
            sites=sites,
            notes=body.notes,
            confirmations=body.confirmations_required,
        )
    return _out(_find(ctx.db, uid))


@router.patch(
    "/{uid}",
    response_model=HubWatchlistOut,
    summary="Change a hub watchlist's action or sites (a site dropped loses its members) (admin)",
)
def update(
    uid: str, body: HubWatchlistPatch, p: GalleryAdmin, ctx: Ctx, request: Request
) -> HubWatchlistOut:
    w = _find(ctx.db, uid)
    want = set(w.sites if body.sites is None else _admitted(request, body.sites))
    with refused_by_database("the watchlist was not changed"):
        gallery.update_watchlist(
            ctx.db,
            hub_audit_log(ctx),
            actor(p, request),
            w.name,
            action=body.action,
            add_sites=sorted(want - set(w.sites)),
            remove_sites=sorted(set(w.sites) - want),
            confirmations=body.confirmations_required,
        )
    return _out(_find(ctx.db, uid))


@router.delete("/{uid}", status_code=204, summary="Delete a hub watchlist, and its copies (admin)")
def delete(uid: str, p: GalleryAdmin, ctx: Ctx, request: Request) -> Response:
    name = _find(ctx.db, uid).name
    with refused_by_database("the watchlist was not deleted"):
        gallery.delete_watchlist(ctx.db, hub_audit_log(ctx), actor(p, request), name)
    return Response(status_code=204)


def _member(
    uid: str, person_uid: str, member: bool, p: Principal, ctx: ApiContext, request: Request
) -> HubWatchlistOut:
    w = _find(ctx.db, uid)
    name = person_name(ctx.db, person_uid)
    with refused_by_database("the watchlist was not changed"):
        gallery.set_member(
            ctx.db, hub_audit_log(ctx), actor(p, request), w.name, name, member=member
        )
    return _out(_find(ctx.db, uid))


@router.put(
    "/{uid}/members/{person_uid}",
    response_model=HubWatchlistOut,
    summary="Put a hub person on a watchlist: sent to the sites it names (admin)",
)
def add_member(
    uid: str, person_uid: str, p: GalleryAdmin, ctx: Ctx, request: Request
) -> HubWatchlistOut:
    return _member(uid, person_uid, True, p, ctx, request)


@router.delete(
    "/{uid}/members/{person_uid}",
    response_model=HubWatchlistOut,
    summary="Take a hub person off a watchlist: removed where no other list of theirs goes (admin)",
)
def drop_member(
    uid: str, person_uid: str, p: GalleryAdmin, ctx: Ctx, request: Request
) -> HubWatchlistOut:
    return _member(uid, person_uid, False, p, ctx, request)
