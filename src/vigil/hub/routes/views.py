"""The hub's network-wide views: sites (link, last seen, backlog), cameras per site, events
across sites (keyset-paged like a site's events), event thumbnails."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel
from sqlalchemy import func, or_, select

from vigil.api.deps import Ctx, Viewer, audit
from vigil.api.identity import (
    audit_identity_search,
    event_fields,
    identity_search,
    reveals_identity,
)
from vigil.api.routes.events import CameraFilter, PageCursor, PageLimit, Since, Until
from vigil.hub.context import HubContext, get_hub
from vigil.privacy.audit import Action
from vigil.store.models import HubCameraStatus, HubEvent, HubSite
from vigil.store.models.hub import HubPerson
from vigil.store.paging import read_page, where_events
from vigil.sync.edge import waiting

router = APIRouter(prefix="/hub", tags=["hub"])
Hub = Annotated[HubContext, Depends(get_hub)]
BACKLOG_TIMEOUT_S = 2.0
BACKLOG_PARALLEL = 16  # sites asked at once


class SiteOut(BaseModel):
    name: str
    link: str  # "up", "down" or "unknown"
    first_seen: datetime | None
    last_seen: datetime | None  # the last batch stored from it
    backlog: int | None  # messages at the site the hub has not stored; None: never known
    backlog_live: bool  # measured now (link up) or the last figure known
    cameras: int
    events: int


class CameraOut(BaseModel):
    site: str
    camera: str
    status: str
    at: datetime
    events: int


class HubEventOut(BaseModel):
    uid: str
    site: str
    camera: str
    kind: str
    start: datetime
    end: datetime | None
    person_uid: str | None
    person: str | None
    score: float | None
    confidence: float | None
    zone: str | None
    thumbnail_url: str | None


class HubEventPageOut(BaseModel):
    events: list[HubEventOut]
    next_cursor: str | None


async def _site_backlog(hub: HubContext, site: str) -> int | None:
    """Messages of `site` the hub's consumers have not acked, asked of the site now."""
    if hub.connect is None:
        return None
    nc = await hub.connect(site)
    try:
        return sum((await waiting(nc.jetstream(domain=site, timeout=BACKLOG_TIMEOUT_S))).values())
    finally:
        await nc.close()


async def measure_backlogs(hub: HubContext, db: Any, sites: set[str]) -> dict[str, int]:
    """Backlog of each linked site, stored on its `HubSite` row as the last figure known."""

    gate = asyncio.Semaphore(BACKLOG_PARALLEL)

    async def one(site: str) -> tuple[str, int | None]:
        async with gate:
            try:
                n = await asyncio.wait_for(_site_backlog(hub, site), BACKLOG_TIMEOUT_S * 2)
            except Exception:  # the link dropped meanwhile: the last figure known is shown
                return site, None
            return site, n

    found = {
        s: n for s, n in await asyncio.gather(*(one(s) for s in sorted(sites))) if n is not None
    }
    if found:
        with db.session() as s:
            for row in s.scalars(select(HubSite).where(HubSite.name.in_(list(found)))):
                row.backlog = found[row.name]
    return found


@router.get("/sites", response_model=list[SiteOut], summary="Every site: link, last seen, backlog")
async def sites(p: Viewer, ctx: Ctx, hub: Hub) -> list[SiteOut]:
    linked = await asyncio.to_thread(hub.linked_sites)
    live = await measure_backlogs(hub, ctx.db, linked or set())
    with ctx.db.session() as s:
        rows = {r.name: r for r in s.scalars(select(HubSite))}
        cams = dict(
            s.execute(
                select(HubCameraStatus.site, func.count()).group_by(HubCameraStatus.site)
            ).all()
        )
        events = dict(s.execute(select(HubEvent.site, func.count()).group_by(HubEvent.site)).all())
    names = list(hub.sites) + sorted(set(rows) - set(hub.sites))
    out = []
    for name in names:
        row = rows.get(name)
        link = "unknown" if linked is None else ("up" if name in linked else "down")
        backlog = live.get(name, row.backlog if row is not None and row.backlog else None)
        out.append(
            SiteOut(
                name=name,
                link=link,
                first_seen=row.first_seen if row else None,
                last_seen=row.last_seen if row else None,
                backlog=backlog,
                backlog_live=name in live,
                cameras=int(cams.get(name, 0)),
                events=int(events.get(name, 0)),
            )
        )
    return out


@router.get("/cameras", response_model=list[CameraOut], summary="Cameras of every site, status")
def cameras(
    p: Viewer, ctx: Ctx, site: Annotated[str | None, Query(max_length=64)] = None
) -> list[CameraOut]:
    with ctx.db.session() as s:
        q = select(HubCameraStatus).order_by(HubCameraStatus.site, HubCameraStatus.camera)
        if site is not None:
            q = q.where(HubCameraStatus.site == site)
        rows = list(s.scalars(q))
        counts = {
            (a, b): n
            for a, b, n in s.execute(
                select(HubEvent.site, HubEvent.camera, func.count()).group_by(
                    HubEvent.site, HubEvent.camera
                )
            ).all()
        }
    return [
        CameraOut(
            site=r.site,
            camera=r.camera,
            status=r.status,
            at=r.at,
            events=int(counts.get((r.site, r.camera), 0)),
        )
        for r in rows
    ]


def events_out(s: Any, rows: list[HubEvent], *, reveal: bool) -> list[HubEventOut]:
    """The hub's events as the API shows them; without `reveal` (`identity.reveals_identity`)
    the identity fields (person, person_uid, score, confidence) are null."""
    uids = {e.person_uid for e in rows if e.person_uid} if reveal else set()
    names = (
        dict(s.execute(select(HubPerson.uid, HubPerson.name).where(HubPerson.uid.in_(uids))).all())
        if uids
        else {}
    )
    return [
        HubEventOut(
            **event_fields(
                e,
                key="person_uid",
                ident=e.person_uid,
                name=names.get(e.person_uid) if e.person_uid else None,
                reveal=reveal,
            ),
            site=e.site,
            thumbnail_url=f"/api/v1/hub/events/{e.uid}/thumbnail.jpg" if e.thumbnail else None,
        )
        for e in rows
    ]


@router.get("/events", response_model=HubEventPageOut, summary="Events of every site, newest first")
def events(
    p: Viewer,
    ctx: Ctx,
    request: Request,
    site: Annotated[str | None, Query(max_length=64)] = None,
    camera: CameraFilter = None,
    kind: Annotated[list[str] | None, Query()] = None,
    person: Annotated[
        str | None, Query(max_length=200, description="A hub person's name or uid.")
    ] = None,
    since: Since = None,
    until: Until = None,
    limit: PageLimit = 50,
    cursor: PageCursor = None,
    reason: Annotated[
        str | None,
        Query(
            max_length=500,
            description="Why; required with person or kind=known_person (audited).",
        ),
    ] = None,
) -> HubEventPageOut:
    why = identity_search(p, person=person, kinds=kind or (), reason=reason)
    q = where_events(
        select(HubEvent), HubEvent, camera=camera, kinds=kind or (), since=since, until=until
    )
    with ctx.db.session() as s:
        person_uid = None
        if person is not None:
            hp = s.scalar(
                select(HubPerson).where(or_(HubPerson.name == person, HubPerson.uid == person))
            )
            if hp is None:
                raise HTTPException(404, f"no person {person!r} enrolled at the hub")
            person_uid = hp.uid
            q = q.where(HubEvent.person_uid == person_uid)
        if site is not None:
            q = q.where(HubEvent.site == site)
        rows, next_cursor = read_page(s, q, HubEvent, limit=limit, cursor=cursor)
        out = HubEventPageOut(
            events=events_out(s, rows, reveal=reveals_identity(p)), next_cursor=next_cursor
        )
    if why is not None:
        audit_identity_search(
            ctx,
            request,
            p,
            why,
            kinds=kind or (),
            results=len(out.events),
            cursor=cursor,
            camera=camera,
            where={"site": site},
            target_kind="hub_person" if person_uid else "",
            target_id=person_uid or "",
        )
    return out


@router.get(
    "/events/{uid}/thumbnail.jpg",
    response_class=FileResponse,
    summary="An event's thumbnail as its site sent it (JPEG)",
    responses={200: {"content": {"image/jpeg": {}}}},
)
def event_thumbnail(uid: str, p: Viewer, ctx: Ctx, hub: Hub, request: Request) -> FileResponse:
    with ctx.db.session() as s:
        e = s.scalar(select(HubEvent).where(HubEvent.uid == uid))
        if e is None or not e.thumbnail:
            raise HTTPException(404, f"no thumbnail for event {uid}")
        site, camera, rel = e.site, e.camera, e.thumbnail
    root = hub.thumbs_dir.resolve()
    path = (root / rel).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise HTTPException(404, f"the thumbnail of event {uid} is gone (retention?)")
    audit(ctx, request, p, Action.view_events, camera=camera, details={"site": site, "uid": uid})
    return FileResponse(path, media_type="image/jpeg")
