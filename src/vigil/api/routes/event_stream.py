"""Server-sent events: every newly stored event, as it is stored, for the UI and integrators.

The stream polls the events table by id (cheap: a primary-key range read) every
`POLL_S`; a comment line goes out every `KEEPALIVE_S` so proxies keep the connection open.
Each message is `id: <event id>`, `event: event`, `data: <EventOut JSON>`; a client that
reconnects with `Last-Event-ID` (browsers do) gets what it missed.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool

from vigil.api.deps import MAX_ID, Ctx, Viewer
from vigil.api.identity import reveals_identity
from vigil.api.routes.events import events_out
from vigil.store.db import Database
from vigil.store.models.events import Event

router = APIRouter(prefix="/events", tags=["events"])

POLL_S = 0.5
KEEPALIVE_S = 15.0
BATCH = 200  # events sent per poll at most (a backlog drains over a few polls)


def newest_id(db: Database) -> int:
    with db.session() as s:
        return s.scalar(select(func.max(Event.id))) or 0


def events_after(db: Database, after: int, camera: str | None) -> list[Event]:
    q = select(Event).where(Event.id > after)
    if camera is not None:
        q = q.where(Event.camera == camera)
    with db.session() as s:
        return list(s.scalars(q.order_by(Event.id).limit(BATCH)))


def sse_message(event_id: int, data: dict) -> bytes:
    return f"id: {event_id}\nevent: event\ndata: {json.dumps(data, default=str)}\n\n".encode()


@router.get(
    "/stream",
    response_class=StreamingResponse,
    summary="New events as server-sent events (text/event-stream)",
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def event_stream(
    p: Viewer,
    ctx: Ctx,
    request: Request,
    camera: Annotated[str | None, Query(max_length=100)] = None,
    after: Annotated[
        int | None, Query(ge=0, le=MAX_ID, description="Send events stored after this id")
    ] = None,
    last_event_id: Annotated[str | None, Header(max_length=20)] = None,
) -> StreamingResponse:
    db = ctx.db
    start = after
    if start is None and last_event_id and last_event_id.isdigit():
        start = min(int(last_event_id), MAX_ID)
    if start is None:
        start = await run_in_threadpool(newest_id, db)
    closed = ctx.live.closed
    reveal = reveals_identity(p)  # the role, as when the stream opened

    async def messages():
        last = start
        yield b": vigil event stream\nretry: 2000\n\n"
        quiet_since = time.monotonic()
        while not closed.is_set():
            rows = await run_in_threadpool(events_after, db, last, camera)
            if rows:
                # The id cursor moves past events of other cameras too.
                out = await run_in_threadpool(events_out, db, rows, reveal=reveal)
                for e, o in zip(rows, out, strict=True):
                    yield sse_message(e.id, {"id": e.id, **o.model_dump(mode="json")})
                last = rows[-1].id
                quiet_since = time.monotonic()
                if len(rows) == BATCH:
                    continue
            elif time.monotonic() - quiet_since >= KEEPALIVE_S:
                yield b": keep-alive\n\n"
                quiet_since = time.monotonic()
            if await request.is_disconnected():
                return
            await asyncio.sleep(POLL_S)

    return StreamingResponse(
        messages(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
