"""Review items: a camera's grouped events, listed newest first, marked reviewed per user.

Viewing items is the `view` permission, like events; an item never names a person (its
objects are event kinds), and its events are shown by `events_out` with the caller's
`reveals_identity`, so items follow the events' identity rule. The snapshot is the best
event's (`/events/{uid}/snapshot.jpg`: audited, pixelated for protected viewers)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Query, Response

from vigil.api.deps import Ctx, Id, Principal, Viewer
from vigil.api.identity import reveals_identity
from vigil.api.routes.events import events_out
from vigil.api.schemas import (
    Instant,
    ReviewDetailOut,
    ReviewItemOut,
    ReviewMarkIn,
    ReviewMarkOut,
    ReviewPageOut,
)
from vigil.events.review import (
    ReviewFilter,
    best_events,
    get_item,
    list_items,
    mark_reviewed,
    reviewed_by,
    unmark_reviewed,
)
from vigil.store.db import Database
from vigil.store.models.review import ReviewItem, Severity

router = APIRouter(prefix="/review", tags=["review"])
_SECOND = timedelta(seconds=1)


def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def events_link(item: ReviewItem) -> str:
    """The events page of the item's camera and span (`until` is exclusive: a second more)."""
    end = item.end or item.updated_at
    until = end.replace(microsecond=0) + _SECOND
    q = {"camera": item.camera, "since": _iso(item.start), "until": _iso(until)}
    return f"/events?{urlencode(q)}"


def items_out(db: Database, p: Principal, items: list[ReviewItem]) -> list[ReviewItemOut]:
    mine = reviewed_by(db, p.account.id, [i.id for i in items])
    best = best_events(db, items)
    return [
        ReviewItemOut(
            id=i.id,
            camera=i.camera,
            start=i.start,
            end=i.end,
            active=not i.closed,
            severity=i.severity.value,
            objects=dict(i.objects or {}),
            reviewed=i.id in mine,
            snapshot_url=f"/api/v1/events/{best[i.id].uid}/snapshot.jpg" if i.id in best else None,
            events_url=events_link(i),
        )
        for i in items
    ]


@router.get("", response_model=ReviewPageOut, summary="Review items, newest first, paged")
def review_items(
    p: Viewer,
    ctx: Ctx,
    camera: Annotated[str | None, Query(max_length=100)] = None,
    severity: Annotated[Severity | None, Query()] = None,
    reviewed: Annotated[
        bool | None, Query(description="Only those you marked reviewed (true) or not (false).")
    ] = None,
    since: Annotated[Instant | None, Query(description="Items starting at or after.")] = None,
    until: Annotated[Instant | None, Query(description="Items starting before.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> ReviewPageOut:
    f = ReviewFilter(
        camera=camera,
        severity=severity,
        reviewed=reviewed,
        user_id=p.account.id,
        since=since,
        until=until,
    )
    page = list_items(ctx.db, f, limit=limit, cursor=cursor)
    return ReviewPageOut(items=items_out(ctx.db, p, page.items), next_cursor=page.next_cursor)


@router.post("/reviewed", response_model=ReviewMarkOut, summary="Mark many items reviewed")
def mark_many(body: ReviewMarkIn, p: Viewer, ctx: Ctx) -> ReviewMarkOut:
    """All or nothing: 404 naming the ids that do not exist."""
    return ReviewMarkOut(marked=mark_reviewed(ctx.db, p.account.id, body.ids))


@router.get("/{item_id}", response_model=ReviewDetailOut, summary="One review item, its events")
def review_item(item_id: Id, p: Viewer, ctx: Ctx) -> ReviewDetailOut:
    found = get_item(ctx.db, item_id)
    if found is None:
        raise HTTPException(404, f"no review item {item_id}")
    item, events = found
    (out,) = items_out(ctx.db, p, [item])
    shown = events_out(ctx.db, events, reveal=reveals_identity(p))
    return ReviewDetailOut(**out.model_dump(), events=shown)


@router.post(
    "/{item_id}/reviewed", status_code=204, response_class=Response, summary="Mark reviewed"
)
def mark_one(item_id: Id, p: Viewer, ctx: Ctx) -> Response:
    mark_reviewed(ctx.db, p.account.id, [item_id])  # 404 when there is no such item
    return Response(status_code=204)


@router.delete(
    "/{item_id}/reviewed", status_code=204, response_class=Response, summary="Unmark reviewed"
)
def unmark_one(item_id: Id, p: Viewer, ctx: Ctx) -> Response:
    if get_item(ctx.db, item_id) is None:
        raise HTTPException(404, f"no review item {item_id}")
    unmark_reviewed(ctx.db, p.account.id, item_id)
    return Response(status_code=204)
