"""Cameras: status, live snapshot and MJPEG stream, recordings index, segment files, export."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import FileResponse, Response, StreamingResponse
from pydantic import AwareDatetime

from vigil.api.context import ApiContext
from vigil.api.deps import Ctx, Exporter, Id, Principal, Viewer, audit
from vigil.api.exports import export_response
from vigil.api.schemas import CameraOut, ExportIn, RecordingsOut, SegmentOut, SpanOut
from vigil.camera.index import coverage, recordings_dir, segments_between
from vigil.config import CameraConfig
from vigil.privacy.audit import Action
from vigil.store.models.camera import Segment

router = APIRouter(prefix="/cameras", tags=["cameras"])

MAX_RANGE = timedelta(days=7)
MAX_EXPORT = timedelta(hours=6)
VIEW_AUDIT_EVERY_S = 300.0  # one "view" record per user, camera and kind per 5 minutes
BOUNDARY = "vigilframe"


def find_camera(ctx: ApiContext, name: str) -> CameraConfig:
    for cam in ctx.config.cameras:
        if cam.name == name:
            return cam
    raise HTTPException(404, f"no camera named {name!r}")


def audit_view(
    ctx: ApiContext, request: Request, p: Principal, action: Action, camera: str
) -> None:
    """Audit a view of footage, once per user, camera and action in a few minutes (a video
    player makes many range requests and a live view many snapshot requests)."""
    views: dict = ctx.__dict__.setdefault("_recent_views", {})
    key = (p.username, action, camera)
    now = time.monotonic()
    if now - views.get(key, -1e9) < VIEW_AUDIT_EVERY_S:
        return
    views[key] = now
    audit(ctx, request, p, action, target_kind="camera", target_id=camera, camera=camera)


def camera_out(ctx: ApiContext, cam: CameraConfig, statuses: dict) -> CameraOut:
    st = statuses.get(cam.name)
    frame = ctx.live.latest(cam.name)
    return CameraOut(
        name=cam.name,
        enabled=cam.enabled,
        record=cam.record,
        state=st.state if st else ("disabled" if not cam.enabled else "unknown"),
        online=bool(st and st.online),
        recording=bool(st and st.recording),
        error=st.error if st else "",
        fps=st.fps if st else None,
        width=st.width if st else 0,
        height=st.height if st else 0,
        codec=st.codec if st else "",
        last_packet_at=st.last_packet_at if st else None,
        live=frame is not None,
        live_frame_at=frame.at if frame else None,
    )


@router.get("", response_model=list[CameraOut], summary="Every camera with its status")
def list_cameras(p: Viewer, ctx: Ctx) -> list[CameraOut]:
    statuses = ctx.camera_statuses()
    return [camera_out(ctx, c, statuses) for c in ctx.config.cameras]


@router.get("/{name}", response_model=CameraOut, summary="One camera with its status")
def get_camera(name: str, p: Viewer, ctx: Ctx) -> CameraOut:
    return camera_out(ctx, find_camera(ctx, name), ctx.camera_statuses())


@router.get(
    "/{name}/snapshot.jpg",
    response_class=Response,
    summary="The latest live frame (JPEG)",
    responses={200: {"content": {"image/jpeg": {}}}, 503: {"description": "No live frame now."}},
)
def snapshot(name: str, p: Viewer, ctx: Ctx, request: Request) -> Response:
    find_camera(ctx, name)
    frame = ctx.live.latest(name)
    if frame is None:
        raise HTTPException(503, f"no live frame from {name} right now (camera offline?)")
    audit_view(ctx, request, p, Action.view_live, name)
    return Response(
        frame.jpeg,
        media_type="image/jpeg",
        headers={"Cache-Control": "no-store", "X-Frame-Time": f"{frame.at:.3f}"},
    )


@router.get(
    "/{name}/live.mjpeg",
    response_class=StreamingResponse,
    summary="Live view as an MJPEG stream (for an <img> element)",
    responses={200: {"content": {f"multipart/x-mixed-replace; boundary={BOUNDARY}": {}}}},
)
async def live_stream(
    name: str,
    p: Viewer,
    ctx: Ctx,
    request: Request,
    max_fps: Annotated[float, Query(gt=0, le=30)] = 10.0,
) -> StreamingResponse:
    find_camera(ctx, name)
    audit_view(ctx, request, p, Action.view_live, name)
    live = ctx.live

    async def frames():  # type: ignore[no-untyped-def]
        last_seq = -1
        min_gap = 1.0 / max_fps
        while not live.closed.is_set():
            frame = live.latest(name)
            if frame is not None and frame.seq != last_seq:
                last_seq = frame.seq
                yield (
                    (
                        f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                        f"Content-Length: {len(frame.jpeg)}\r\n\r\n"
                    ).encode()
                    + frame.jpeg
                    + b"\r\n"
                )
                await asyncio.sleep(min_gap)
            else:
                await asyncio.sleep(0.02)  # viewers poll the hub; nothing decodes per viewer
            if await request.is_disconnected():
                return

    return StreamingResponse(
        frames(),
        media_type=f"multipart/x-mixed-replace; boundary={BOUNDARY}",
        headers={"Cache-Control": "no-store"},
    )


def segment_out(seg: Segment, camera: str) -> SegmentOut:
    now = datetime.now(UTC)
    return SegmentOut(
        id=seg.id,
        start=seg.start,
        end=seg.end,
        complete=seg.complete,
        size_bytes=seg.size_bytes,
        keyframes=len(seg.keyframes or []),
        locked=bool(seg.locked_until and seg.locked_until > now),
        url=f"/api/v1/cameras/{camera}/segments/{seg.id}.mp4",
    )


def time_range(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    """A query's time range: default the last 24 h; at most MAX_RANGE; 422 when reversed."""
    end = end or datetime.now(UTC)
    start = start or end - timedelta(hours=24)
    if end <= start:
        raise HTTPException(422, "end must be after start")
    if end - start > MAX_RANGE:
        raise HTTPException(422, "ask for at most 7 days at a time")
    return start, end


@router.get(
    "/{name}/recordings",
    response_model=RecordingsOut,
    summary="Recorded segments and continuous spans in a time range (default: last 24 h)",
)
def recordings(
    name: str,
    p: Viewer,
    ctx: Ctx,
    start: Annotated[AwareDatetime | None, Query(description="ISO 8601 with timezone")] = None,
    end: Annotated[AwareDatetime | None, Query(description="ISO 8601 with timezone")] = None,
) -> RecordingsOut:
    find_camera(ctx, name)
    start, end = time_range(start, end)
    segs = segments_between(ctx.db, name, start, end)
    cov = coverage(segs)
    return RecordingsOut(
        camera=name,
        start=start,
        end=end,
        segments=[segment_out(s, name) for s in segs],
        spans=[SpanOut(start=a, end=b) for a, b in cov.spans],
        gaps=[SpanOut(start=a, end=b) for a, b in cov.gaps],
    )


@router.get(
    "/{name}/segments/{segment_id}.mp4",
    response_class=FileResponse,
    summary="One recorded segment (fragmented MP4; HTTP range requests supported)",
    responses={200: {"content": {"video/mp4": {}}}, 206: {"description": "Partial content"}},
)
def segment_file(name: str, segment_id: Id, p: Viewer, ctx: Ctx, request: Request) -> FileResponse:
    find_camera(ctx, name)
    with ctx.db.session() as s:
        seg = s.get(Segment, segment_id)
    if seg is None or seg.camera != name:
        raise HTTPException(404, f"no segment {segment_id} of camera {name}")
    root = recordings_dir(ctx.data_dir).resolve()
    path = (root / seg.path).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise HTTPException(404, f"the file of segment {segment_id} is gone (retention?)")
    audit_view(ctx, request, p, Action.view_recording, name)
    return FileResponse(path, media_type="video/mp4", headers={"Cache-Control": "private"})


@router.post(
    "/{name}/export",
    response_class=FileResponse,
    summary="Export a clip as a ZIP: the MP4 (redacted by default) and its signed manifest.json",
    description=(
        "A stated reason is required and audited, with whether the clip was redacted. "
        "`redact` (default true) pixelates every face but `subject_person_id`'s and blacks "
        "out the camera's privacy masks; `redact: false` exports the unredacted original. "
        "Check a bundle with `vigil export verify <zip>`."
    ),
    responses={
        200: {"content": {"application/zip": {}}},
        404: {"description": "No footage, or no such person"},
    },
)
async def export(
    name: str, body: ExportIn, p: Exporter, ctx: Ctx, request: Request
) -> FileResponse:
    cam = find_camera(ctx, name)
    if body.end <= body.start:
        raise HTTPException(422, "end must be after start")
    if body.end - body.start > MAX_EXPORT:
        raise HTTPException(422, "export at most 6 hours at a time")
    return await export_response(ctx, request, p, cam, body)
