"""Live view: H.264 streams for the browser's player (MSE), and each user's saved grids.

The MJPEG stream and snapshots stay under /cameras/{name}: the fallback, and what protected
roles and masked cameras always get (`vigil.api.live_mse`).
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field, field_validator
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from vigil.api.deps import Ctx, Id, Principal, Viewer
from vigil.api.live_mse import MAX_CAMERAS, QueueViewer, frame, refusal
from vigil.api.routes.cameras import audit_view, find_camera
from vigil.api.schemas import Name, Strict
from vigil.camera.live_feed import Kind
from vigil.config import CameraConfig
from vigil.privacy.audit import Action
from vigil.store.models.live import LiveLayout

router = APIRouter(prefix="/live", tags=["live"])

GRIDS = (1, 4, 9, 16)
CHECK_EVERY_S = 1.0  # how often a stream asks again whether each camera may still be sent


class LiveCameraOut(BaseModel):
    name: str
    mse: bool = Field(description="May be played as H.264 (GET /live/stream); else MJPEG")
    reason: str = Field("", description="Why not, when `mse` is false")
    viewers: int = Field(description="H.264 viewers of this camera now, on this site")


@router.get(
    "/cameras",
    response_model=list[LiveCameraOut],
    summary="Every camera: whether the caller may watch it as H.264 (MSE) or gets MJPEG",
)
def live_cameras(p: Viewer, ctx: Ctx) -> list[LiveCameraOut]:
    out = []
    for cam in ctx.config.cameras:
        why = refusal(ctx, p, cam) if cam.enabled else f"{cam.name} is disabled"
        feed = ctx.feeds.feed(cam.name)
        out.append(
            LiveCameraOut(name=cam.name, mse=why is None, reason=why or "", viewers=feed.viewers)
        )
    return out


@router.get(
    "/stream",
    response_class=StreamingResponse,
    summary="Live H.264 of one or more cameras as fMP4 for MSE, in framed messages",
    description=(
        "One message per fragment: kind (1 byte: 1 = fMP4 bytes for the camera's SourceBuffer, "
        "2 = the stream starts over with a new init segment, 3 = ended, UTF-8 reason), the "
        "camera's index in `camera` (1 byte), the payload's length (4 bytes, big-endian), the "
        "payload. Refused (403) for a camera the caller sees only processed frames of."
    ),
    responses={
        200: {"content": {"application/octet-stream": {}}},
        403: {"description": "A camera's people are pixelated for the caller, or it is masked"},
    },
)
async def live_stream(
    p: Viewer,
    ctx: Ctx,
    request: Request,
    camera: Annotated[list[str], Query(description="Camera names, in tile order")],
) -> StreamingResponse:
    if not 1 <= len(camera) <= MAX_CAMERAS:
        raise HTTPException(422, f"ask for 1 to {MAX_CAMERAS} cameras")
    cams = [find_camera(ctx, name) for name in camera]
    for cam in cams:
        if not cam.enabled:
            raise HTTPException(409, f"{cam.name} is disabled")
        if why := refusal(ctx, p, cam):
            raise HTTPException(403, why)
    for cam in cams:
        audit_view(ctx, request, p, Action.view_live, cam.name)
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()
    viewers = {i: QueueViewer(loop, queue, i) for i in range(len(cams))}
    watched = {i: ctx.feeds.watch(cam, viewers[i]) for i, cam in enumerate(cams)}

    async def messages():
        next_check = time.monotonic() + CHECK_EVERY_S
        try:
            while watched:
                try:
                    index, kind, data = await asyncio.wait_for(queue.get(), CHECK_EVERY_S)
                except TimeoutError:
                    index = None
                if index is not None and index in watched:
                    if kind is Kind.END:
                        watched.pop(index).unsubscribe(viewers[index])
                    yield frame(kind, index, data)
                if time.monotonic() >= next_check:
                    next_check = time.monotonic() + CHECK_EVERY_S
                    if ctx.live.closed.is_set() or await request.is_disconnected():
                        return
                    for i in list(watched):
                        if why := still_refused(ctx, p, cams[i]):
                            watched.pop(i).unsubscribe(viewers[i])
                            yield frame(Kind.END, i, why.encode())
        finally:
            for i, feed in watched.items():
                feed.unsubscribe(viewers[i])

    return StreamingResponse(
        messages(),
        media_type="application/octet-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def still_refused(ctx: Ctx, p: Principal, cam: CameraConfig) -> str | None:
    """Asked during a stream, with the camera's settings as they are now (saved masks)."""
    current = next((c for c in ctx.config.cameras if c.name == cam.name), None)
    if current is None or not current.enabled:
        return f"{cam.name} is no longer enabled"
    return refusal(ctx, p, current)


# --- saved layouts ---------------------------------------------------------------------------


class LayoutIn(Strict):
    name: Name = Field(max_length=64)
    grid: int = Field(4, description="Tiles: 1, 4, 9 or 16")
    cameras: list[str | None] = Field(
        default_factory=list, description="Camera of each tile in reading order (null: empty)"
    )

    @field_validator("grid")
    @classmethod
    def _grid(cls, v: int) -> int:
        if v not in GRIDS:
            raise ValueError(f"grid must be one of {', '.join(map(str, GRIDS))}")
        return v


class LayoutOut(BaseModel):
    id: int
    name: str
    grid: int
    cameras: list[str | None]
    updated_at: datetime


def _checked(ctx: Ctx, body: LayoutIn) -> list[str | None]:
    if len(body.cameras) > body.grid:
        raise HTTPException(422, f"{len(body.cameras)} cameras do not fit a grid of {body.grid}")
    known = {c.name for c in ctx.config.cameras}
    unknown = sorted({c for c in body.cameras if c is not None and c not in known})
    if unknown:
        raise HTTPException(422, f"no camera named {', '.join(map(repr, unknown))}")
    return list(body.cameras)


def _out(row: LiveLayout) -> LayoutOut:
    return LayoutOut(
        id=row.id, name=row.name, grid=row.grid, cameras=row.cameras, updated_at=row.updated_at
    )


def _own(s, p: Principal, layout_id: int) -> LiveLayout:
    row = s.get(LiveLayout, layout_id)
    if row is None or row.user_id != p.account.id:
        raise HTTPException(404, f"you have no layout {layout_id}")
    return row


@router.get("/layouts", response_model=list[LayoutOut], summary="The caller's saved grids")
def list_layouts(p: Viewer, ctx: Ctx) -> list[LayoutOut]:
    with ctx.db.session() as s:
        rows = s.scalars(
            select(LiveLayout).where(LiveLayout.user_id == p.account.id).order_by(LiveLayout.name)
        )
        return [_out(r) for r in rows]


@router.post(
    "/layouts",
    response_model=LayoutOut,
    status_code=201,
    summary="Save a grid under a name (409 when the caller has one of that name)",
)
def create_layout(body: LayoutIn, p: Viewer, ctx: Ctx) -> LayoutOut:
    cameras = _checked(ctx, body)
    try:
        with ctx.db.session() as s:
            row = LiveLayout(user_id=p.account.id, name=body.name, grid=body.grid, cameras=cameras)
            s.add(row)
            s.flush()
            return _out(row)
    except IntegrityError:
        raise HTTPException(409, f"you already have a layout named {body.name!r}") from None


@router.put("/layouts/{layout_id}", response_model=LayoutOut, summary="Change a saved grid")
def update_layout(layout_id: Id, body: LayoutIn, p: Viewer, ctx: Ctx) -> LayoutOut:
    cameras = _checked(ctx, body)
    try:
        with ctx.db.session() as s:
            row = _own(s, p, layout_id)
            row.name, row.grid, row.cameras = body.name, body.grid, cameras
            row.updated_at = datetime.now(UTC)
            s.flush()
            return _out(row)
    except IntegrityError:
        raise HTTPException(409, f"you already have a layout named {body.name!r}") from None


@router.delete("/layouts/{layout_id}", status_code=204, summary="Delete a saved grid")
def delete_layout(layout_id: Id, p: Viewer, ctx: Ctx) -> Response:
    with ctx.db.session() as s:
        s.delete(_own(s, p, layout_id))
    return Response(status_code=204)
