"""Watchlists: named lists of enrolled people with an action (alert, notify, ignore) and how
many people confirm a member's match before it is acted on.

Reading and changing them needs the `people` permission (operator and admin); every change
is audited as `change_watchlist`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from vigil.api.context import ApiContext
from vigil.api.deps import Ctx, Id, PeopleManager, Principal, audit
from vigil.api.schemas import Name
from vigil.events import watchlists
from vigil.events.verification import MAX_CONFIRMATIONS
from vigil.privacy.audit import Action
from vigil.store.models.events import WatchAction, Watchlist, WatchlistMember
from vigil.store.models.faces import Person

router = APIRouter(prefix="/watchlists", tags=["watchlists"])

Notes = Annotated[str, Field(max_length=2000)]
Confirmations = Annotated[
    int,
    Field(
        ge=0,
        le=MAX_CONFIRMATIONS,
        description="Different people who confirm a match before it is acted on (0: none)",
    ),
]


class MemberOut(BaseModel):
    id: int
    name: str


class WatchlistOut(BaseModel):
    id: int
    name: str
    action: WatchAction
    notes: str
    confirmations_required: int
    created_at: datetime
    members: list[MemberOut]


class WatchlistIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    action: WatchAction
    notes: Notes = ""
    confirmations_required: Confirmations | None = Field(
        default=None, description="Omitted: 2 for `alert`, 0 otherwise"
    )


class WatchlistPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name | None = None
    action: WatchAction | None = None
    notes: Notes | None = None
    confirmations_required: Confirmations | None = None


def _out(ctx: ApiContext, wl_id: int) -> WatchlistOut:
    with ctx.db.session() as s:
        wl = s.get(Watchlist, wl_id)
        if wl is None:
            raise HTTPException(404, f"no watchlist with id {wl_id}")
        members = s.execute(
            select(Person.id, Person.name)
            .join(WatchlistMember, WatchlistMember.person_id == Person.id)
            .where(WatchlistMember.watchlist_id == wl_id)
            .order_by(Person.name)
        ).all()
        return WatchlistOut(
            id=wl.id,
            name=wl.name,
            action=wl.action,
            notes=wl.notes,
            confirmations_required=wl.confirmations_required,
            created_at=wl.created_at,
            members=[MemberOut(id=i, name=n) for i, n in members],
        )


def _name_of(ctx: ApiContext, wl_id: int) -> str:
    with ctx.db.session() as s:
        wl = s.get(Watchlist, wl_id)
        if wl is None:
            raise HTTPException(404, f"no watchlist with id {wl_id}")
        return wl.name


def _audit(
    ctx: ApiContext, request: Request, p: Principal, wl_id: int, what: str, **details: object
) -> None:
    person = details.get("person_id")
    audit(
        ctx,
        request,
        p,
        Action.change_watchlist,
        target_kind="watchlist",
        target_id=str(wl_id),
        person=person if isinstance(person, int) else None,
        details={"change": what, **details},
    )


@router.get("", response_model=list[WatchlistOut], summary="Every watchlist with its members")
def list_all(p: PeopleManager, ctx: Ctx) -> list[WatchlistOut]:
    return [_out(ctx, wl.id) for wl in watchlists.list_watchlists(ctx.db)]


@router.get("/{watchlist_id}", response_model=WatchlistOut, summary="One watchlist")
def get_one(watchlist_id: Id, p: PeopleManager, ctx: Ctx) -> WatchlistOut:
    return _out(ctx, watchlist_id)


@router.post("", response_model=WatchlistOut, status_code=201, summary="Create a watchlist")
def create(body: WatchlistIn, p: PeopleManager, ctx: Ctx, request: Request) -> WatchlistOut:
    wl = watchlists.create_watchlist(
        ctx.db, body.name, body.action, body.notes, body.confirmations_required
    )
    _audit(
        ctx,
        request,
        p,
        wl.id,
        "create",
        name=body.name,
        action=body.action.value,
        confirmations_required=wl.confirmations_required,
    )
    return _out(ctx, wl.id)


@router.patch("/{watchlist_id}", response_model=WatchlistOut, summary="Rename or change action")
def update(
    watchlist_id: Id, body: WatchlistPatch, p: PeopleManager, ctx: Ctx, request: Request
) -> WatchlistOut:
    name = _name_of(ctx, watchlist_id)
    watchlists.update_watchlist(
        ctx.db,
        name,
        action=body.action,
        new_name=body.name,
        notes=body.notes,
        confirmations_required=body.confirmations_required,
    )
    changes = body.model_dump(mode="json", exclude_none=True)
    _audit(ctx, request, p, watchlist_id, "update", name=name, changes=changes)
    return _out(ctx, watchlist_id)


@router.delete("/{watchlist_id}", status_code=204, summary="Delete a watchlist")
def delete(watchlist_id: Id, p: PeopleManager, ctx: Ctx, request: Request) -> Response:
    name = _name_of(ctx, watchlist_id)
    watchlists.delete_watchlist(ctx.db, name)
    _audit(ctx, request, p, watchlist_id, "delete", name=name)
    return Response(status_code=204)


@router.put(
    "/{watchlist_id}/members/{person_id}",
    response_model=WatchlistOut,
    summary="Add an enrolled person (idempotent)",
)
def add_member(
    watchlist_id: Id, person_id: Id, p: PeopleManager, ctx: Ctx, request: Request
) -> WatchlistOut:
    name = _name_of(ctx, watchlist_id)
    watchlists.add_to_watchlist(ctx.db, name, person_id)
    _audit(ctx, request, p, watchlist_id, "add", name=name, person_id=person_id)
    return _out(ctx, watchlist_id)


@router.delete(
    "/{watchlist_id}/members/{person_id}",
    response_model=WatchlistOut,
    summary="Remove a person from the list",
)
def remove_member(
    watchlist_id: Id, person_id: Id, p: PeopleManager, ctx: Ctx, request: Request
) -> WatchlistOut:
    name = _name_of(ctx, watchlist_id)
    if not watchlists.remove_from_watchlist(ctx.db, name, person_id):
        raise HTTPException(404, f"person {person_id} is not on watchlist {name!r}")
    _audit(ctx, request, p, watchlist_id, "remove", name=name, person_id=person_id)
    return _out(ctx, watchlist_id)
