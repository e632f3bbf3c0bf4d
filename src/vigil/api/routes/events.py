"""Events: filtered, keyset-paged list, one event, its snapshot."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import FileResponse, Response
from sqlalchemy import select

from vigil.api.deps import MAX_ID, Ctx, Viewer
from vigil.api.identity import (
    audit_identity_search,
    event_fields,
    identity_search,
    reveals_identity,
)
from vigil.api.privacy_view import role_protected, unmasked_until
from vigil.api.routes.cameras import audit_view
from vigil.api.schemas import EventOut, EventPageOut, Instant
from vigil.config import CameraConfig
from vigil.events.store import EventFilter, get_event, list_events
from vigil.privacy.audit import Action
from vigil.privacy.protected_view import protect_snapshot
from vigil.store.db import Database
from vigil.store.models.events import Event, EventKind
from vigil.store.models.faces import Person

router = APIRouter(prefix="/events", tags=["events"])

# The filters and paging of an event list, here and at the hub (`vigil.hub.routes.views`).
CameraFilter = Annotated[str | None, Query(max_length=100)]
Since = Annotated[Instant | None, Query()]
Until = Annotated[Instant | None, Query()]
PageLimit = Annotated[int, Query(ge=1, le=500)]
PageCursor = Annotated[str | None, Query(max_length=200)]


def person_names(db: Database, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    with db.session() as s:
        return dict(s.execute(select(Person.id, Person.name).where(Person.id.in_(ids))).all())


def events_out(db: Database, events: list[Event], *, reveal: bool) -> list[EventOut]:
    """The events as the API shows them; without `reveal` (`identity.reveals_identity`) the
    identity fields (person, person_id, score, confidence) are null."""
    ids = {e.person_id for e in events if e.person_id is not None}
    names = person_names(db, ids) if reveal else {}
    return [
        EventOut(
            **event_fields(
                e,
                key="person_id",
                ident=e.person_id,
                name=names.get(e.person_id) if e.person_id is not None else None,
                reveal=reveal,
            ),
            snapshot_url=f"/api/v1/events/{e.uid}/snapshot.jpg" if e.snapshot else None,
            verification=e.verification.value if e.verification else None,
        )
        for e in events
    ]


@router.get("", response_model=EventPageOut, summary="Events, newest first, filtered and paged")
def events(
    p: Viewer,
    ctx: Ctx,
    request: Request,
    camera: CameraFilter = None,
    kind: Annotated[list[EventKind] | None, Query()] = None,
    person_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    zone: Annotated[str | None, Query(max_length=100)] = None,
    since: Since = None,
    until: Until = None,
    limit: PageLimit = 50,
    cursor: PageCursor = None,
    reason: Annotated[
        str | None,
        Query(
            max_length=500,
            description="Why; required with person_id or kind=known_person (a search by "
            "identity, audited as search_person).",
        ),
    ] = None,
) -> EventPageOut:
    why = identity_search(p, person=person_id, kinds=kind or (), reason=reason)
    f = EventFilter(
        camera=camera,
        kinds=kind or (),
        person_id=person_id,
        zone=zone,
        since=since,
        until=until,
    )
    page = list_events(ctx.db, f, limit=limit, cursor=cursor)
    if why is not None:
        audit_identity_search(
            ctx,
            request,
            p,
            why,
            kinds=kind or (),
            results=len(page.events),
            cursor=cursor,
            camera=camera,
            person=person_id,
        )
    out = events_out(ctx.db, page.events, reveal=reveals_identity(p))
    return EventPageOut(events=out, next_cursor=page.next_cursor)


@router.get("/{uid}", response_model=EventOut, summary="One event")
def event(uid: str, p: Viewer, ctx: Ctx) -> EventOut:
    e = get_event(ctx.db, uid)
    if e is None:
        raise HTTPException(404, f"no event {uid}")
    return events_out(ctx.db, [e], reveal=reveals_identity(p))[0]


@router.get(
    "/{uid}/snapshot.jpg",
    response_class=FileResponse,
    summary="The event's snapshot (JPEG)",
    responses={200: {"content": {"image/jpeg": {}}}},
)
def event_snapshot(uid: str, p: Viewer, ctx: Ctx, request: Request) -> Response:
    e = get_event(ctx.db, uid)
    if e is None or not e.snapshot:
        raise HTTPException(404, f"no snapshot for event {uid}")
    root = ctx.data_dir.resolve()
    path = (root / e.snapshot).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise HTTPException(404, f"the snapshot of event {uid} is gone (retention?)")
    audit_view(ctx, request, p, Action.view_events, e.camera)
    # A protected viewer sees the person pixelated here too (a removed camera: the defaults).
    cam = next((c for c in ctx.config.cameras if c.name == e.camera), None)
    cam = cam or CameraConfig(name=e.camera, url="")
    if role_protected(p, cam) and unmasked_until(ctx, p, cam) is None:
        return Response(protect_snapshot(path.read_bytes()), media_type="image/jpeg")
    return FileResponse(path, media_type="image/jpeg")
