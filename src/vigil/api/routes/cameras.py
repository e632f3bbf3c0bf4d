"""Cameras: status, live snapshot and MJPEG stream, recordings index, segment files.

Exports (`POST /cameras/{name}/export`) are jobs: `routes/exports.py`."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import FileResponse, Response, StreamingResponse

from vigil.api.context import ApiContext
from vigil.api.deps import Ctx, Id, Principal, SettingsReader, Unmasker, Viewer, audit
from vigil.api.privacy_view import (
    grants_of,
    is_protected,
    next_segment,
    protected_cache,
    role_protected,
    view_state,
    viewer_key,
)
from vigil.api.schemas import (
    AckIn,
    AckOut,
    CameraOut,
    FootageProblemOut,
    Instant,
    RecordingsOut,
    SegmentOut,
    SpanOut,
    UnmaskIn,
    ViewStateOut,
)
from vigil.camera.checksum import (
    DAMAGED,
    MISSING,
    Problem,
    acknowledge,
    list_problems,
    problem_counts,
)
from vigil.camera.index import coverage, recordings_dir, segments_between
from vigil.camera.status import not_recording
from vigil.config import CameraConfig
from vigil.privacy.audit import Action
from vigil.privacy.protected_cache import RenderBusy
from vigil.privacy.protected_view import render_protected
from vigil.store.models.camera import Segment
from vigil.vision.person import detector_for

router = APIRouter(prefix="/cameras", tags=["cameras"])

MAX_RANGE = timedelta(days=7)
VIEW_AUDIT_EVERY_S = 300.0  # one "view" record per user, camera and kind per 5 minutes
BOUNDARY = "vigilframe"
PROTECTED_FIRST_BYTES_S = 20.0  # wait this long at most for a rendition's first fragment


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


def camera_out(
    ctx: ApiContext, cam: CameraConfig, statuses: dict, problems: dict | None = None
) -> CameraOut:
    """`problems`: `checksum.problem_counts` (lost footage not yet acknowledged)."""
    st = statuses.get(cam.name)
    frame = ctx.live.latest(cam.name)
    lost = (problems or {}).get(cam.name, {})
    idle = not_recording(cam)  # used when no recorder reports this camera
    return CameraOut(
        name=cam.name,
        enabled=cam.enabled,
        record=cam.record,
        state=st.state if st else ("unknown" if cam.enabled and cam.record else idle[0]),
        online=bool(st and st.online),
        recording=bool(st and st.recording),
        error=st.error if st else "",
        fps=st.fps if st else None,
        width=st.width if st else 0,
        height=st.height if st else 0,
        codec=st.codec if st else "",
        last_packet_at=st.last_packet_at if st else None,
        dropped_frames=st.dropped_frames if st else 0,
        dropped_at=st.dropped_at if st else None,
        analysis_dropped=st.analysis_dropped if st else 0,
        live=frame is not None,
        live_frame_at=frame.at if frame else None,
        missing_segments=lost.get(MISSING, 0),
        damaged_segments=lost.get(DAMAGED, 0),
        recognises=ctx.config.recognises(cam),
        recognition_note=ctx.config.recognition_note(cam),
    )


@router.get("", response_model=list[CameraOut], summary="Every camera with its status")
def list_cameras(p: Viewer, ctx: Ctx) -> list[CameraOut]:
    statuses, problems = ctx.camera_statuses(), problem_counts(ctx.db)
    return [camera_out(ctx, c, statuses, problems) for c in ctx.config.cameras]


@router.get("/{name}", response_model=CameraOut, summary="One camera with its status")
def get_camera(name: str, p: Viewer, ctx: Ctx) -> CameraOut:
    cam = find_camera(ctx, name)
    return camera_out(ctx, cam, ctx.camera_statuses(), problem_counts(ctx.db))


def problem_out(p: Problem) -> FootageProblemOut:
    return FootageProblemOut.model_validate(p.__dict__)


@router.get(
    "/{name}/segment-problems",
    response_model=list[FootageProblemOut],
    summary="Recorded footage lost later: segment files gone (missing) or changed (damaged)",
)
def segment_problems(
    name: str,
    p: Viewer,
    ctx: Ctx,
    include_acknowledged: Annotated[bool, Query(description="Also those already seen")] = False,
) -> list[FootageProblemOut]:
    find_camera(ctx, name)
    rows = list_problems(ctx.db, camera=name, include_acknowledged=include_acknowledged)
    return [problem_out(r) for r in rows]


@router.post(
    "/{name}/segment-problems/ack",
    response_model=AckOut,
    summary="Acknowledge lost footage (a note is required, audited); it then leaves status",
)
def acknowledge_problems(
    name: str, body: AckIn, p: SettingsReader, ctx: Ctx, request: Request
) -> AckOut:
    cam = find_camera(ctx, name)
    marked = acknowledge(ctx.db, by=p.username, note=body.note, camera=cam.name, ids=body.ids)
    audit(
        ctx,
        request,
        p,
        Action.ack_footage,
        reason=body.note,
        target_kind="camera",
        target_id=cam.name,
        camera=cam.name,
        details={"problems": [{"id": m.id, "kind": m.kind, "path": m.path} for m in marked]},
    )
    return AckOut(acknowledged=[problem_out(m) for m in marked])


@router.get(
    "/{name}/snapshot.jpg",
    response_class=Response,
    summary="The latest live frame (JPEG)",
    responses={200: {"content": {"image/jpeg": {}}}, 503: {"description": "No live frame now."}},
)
def snapshot(name: str, p: Viewer, ctx: Ctx, request: Request) -> Response:
    cam = find_camera(ctx, name)
    protected = is_protected(ctx, p, cam)
    frame = ctx.live.latest_protected(name) if protected else ctx.live.latest(name)
    if frame is None:
        raise HTTPException(503, f"no live frame from {name} right now (camera offline?)")
    audit_view(ctx, request, p, Action.view_live, name)
    return Response(
        frame.jpeg,
        media_type="image/jpeg",
        headers={
            "Cache-Control": "no-store",
            "X-Frame-Time": f"{frame.at:.3f}",
            "X-Privacy-View": "protected" if protected else "plain",
        },
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
    cam = find_camera(ctx, name)
    audit_view(ctx, request, p, Action.view_live, name)
    live = ctx.live

    async def frames():
        last_seq = -1
        min_gap = 1.0 / max_fps
        # Each frame is followed at once by the next part's boundary and headers (so no
        # Content-Length): Chromium shows a part only once the next one has begun, which
        # otherwise costs the viewer one frame interval (200 ms at 5 fps; bench api --glass).
        part = f"\r\n--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n\r\n".encode()
        yield part[2:]
        while not live.closed.is_set():
            frame = live.latest(name)
            # Asked per frame: an unmask shows plain frames at once, its end pixelates again.
            if frame is not None and frame.seq != last_seq and is_protected(ctx, p, cam):
                frame = await asyncio.to_thread(live.latest_protected, name)
            if frame is not None and frame.seq != last_seq:
                last_seq = frame.seq
                yield frame.jpeg + part
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


def segment_out(seg: Segment, camera: str, protected: bool = False) -> SegmentOut:
    now = datetime.now(UTC)
    url = f"/api/v1/cameras/{camera}/segments/{seg.id}"
    return SegmentOut(
        id=seg.id,
        start=seg.start,
        end=seg.end,
        complete=seg.complete,
        size_bytes=seg.size_bytes,
        keyframes=len(seg.keyframes or []),
        locked=bool(seg.locked_until and seg.locked_until > now),
        url=f"{url}/protected.mp4" if protected else f"{url}.mp4",
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
    start: Annotated[Instant | None, Query(description="ISO 8601 with timezone")] = None,
    end: Annotated[Instant | None, Query(description="ISO 8601 with timezone")] = None,
) -> RecordingsOut:
    cam = find_camera(ctx, name)
    start, end = time_range(start, end)
    segs = segments_between(ctx.db, name, start, end)
    cov = coverage(segs)
    protected = is_protected(ctx, p, cam)
    return RecordingsOut(
        camera=name,
        start=start,
        end=end,
        segments=[segment_out(s, name, protected) for s in segs],
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
    cam = find_camera(ctx, name)
    if is_protected(ctx, p, cam):
        raise HTTPException(
            403,
            f"people on {name} are pixelated for the {p.role.value} role: play "
            f"segments/{segment_id}/protected.mp4, or reveal them with a reason (POST unmask)",
        )
    _, path = recorded_segment(ctx, name, segment_id)
    audit_view(ctx, request, p, Action.view_recording, name)
    return FileResponse(path, media_type="video/mp4", headers={"Cache-Control": "private"})


def recorded_segment(ctx: ApiContext, name: str, segment_id: int) -> tuple[Segment, Path]:
    """A segment of camera `name` and its file, or 404 (unknown, another camera's, file gone)."""
    with ctx.db.session() as s:
        seg = s.get(Segment, segment_id)
    if seg is None or seg.camera != name:
        raise HTTPException(404, f"no segment {segment_id} of camera {name}")
    root = recordings_dir(ctx.data_dir).resolve()
    path = (root / seg.path).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise HTTPException(404, f"the file of segment {segment_id} is gone (retention?)")
    return seg, path


@router.get(
    "/{name}/segments/{segment_id}/protected.mp4",
    response_class=FileResponse,
    summary="One recorded segment with people pixelated (H.264 fragmented MP4)",
    description=(
        "Made on first request and cached. While it is being made the response streams the "
        "file as it is written (200, no length, no ranges: playback starts after the first "
        "second of video); once made, it is served whole with range requests. The next "
        "segment is made ahead meanwhile."
    ),
    responses={
        200: {"content": {"video/mp4": {}}},
        206: {"description": "Partial content"},
        503: {"description": "As many copies as allowed are being made; retry (Retry-After)."},
    },
)
def protected_segment_file(
    name: str,
    segment_id: Id,
    p: Viewer,
    ctx: Ctx,
    request: Request,
    start_s: Annotated[
        int,
        Query(
            alias="from",
            ge=0,
            le=24 * 3600,
            description="Seconds into the segment the player will start at: while the copy is "
            "still being made (no seeking yet) it is made from the keyframe before this",
        ),
    ] = 0,
) -> Response:
    cam = find_camera(ctx, name)
    seg, src = recorded_segment(ctx, name, segment_id)

    def render(
        src: Path, dst: Path, start_s: float = 0.0, cancel: threading.Event | None = None
    ) -> object:
        return render_protected(
            src,
            dst,
            ctx.face_engine(),
            detector_for(cam.analysis),
            sensitivity=cam.motion.sensitivity,
            masks=cam.privacy_masks,
            start_s=start_s,
            cancel=cancel,
        )

    cache = protected_cache(ctx)
    whole = cache.path_of(name, segment_id)
    if start_s and seg.complete and whole.is_file():
        start_s = 0  # made whole already: the player seeks in it
    try:
        rendition = cache.start(
            name, segment_id, src, render, complete=seg.complete, start_s=start_s,
            owner=viewer_key(p),
        )  # fmt: skip
    except RenderBusy as exc:
        raise HTTPException(
            503, f"busy: {exc}; try again shortly", headers={"Retry-After": "5"}
        ) from exc
    if seg.complete and (nxt := next_segment(ctx, seg)) is not None:
        with contextlib.suppress(HTTPException):  # its file gone: nothing to make
            cache.ahead(name, nxt.id, recorded_segment(ctx, name, nxt.id)[1], render)
    audit_view(ctx, request, p, Action.view_recording, name)
    if rendition.ready:
        return FileResponse(
            rendition.path, media_type="video/mp4", headers={"Cache-Control": "private"}
        )
    rendition.wait_first_bytes(PROTECTED_FIRST_BYTES_S)
    if rendition.done.is_set() and rendition.error is not None:
        raise HTTPException(500, f"cannot make the pixelated copy of segment {segment_id}")
    return StreamingResponse(
        cache.stream(rendition),
        media_type="video/mp4",
        headers={"Cache-Control": "no-store", "X-Rendition": "in-progress"},
    )


@router.get(
    "/{name}/view",
    response_model=ViewStateOut,
    summary="Whether people on this camera are pixelated for the caller, and until when not",
)
def get_view_state(name: str, p: Viewer, ctx: Ctx) -> ViewStateOut:
    return view_state(ctx, p, find_camera(ctx, name))


@router.post(
    "/{name}/unmask",
    response_model=ViewStateOut,
    summary="Reveal people on a privacy-protected camera for a while; reason required, audited",
    responses={409: {"description": "People on this camera are not pixelated for the caller."}},
)
def unmask(name: str, body: UnmaskIn, p: Unmasker, ctx: Ctx, request: Request) -> ViewStateOut:
    cam = find_camera(ctx, name)
    if not role_protected(p, cam):
        raise HTTPException(409, f"people on {name} are not pixelated for the {p.role.value} role")
    minutes = cam.privacy_view.unmask_minutes
    audit(
        ctx,
        request,
        p,
        Action.unmask_view,
        reason=body.reason,
        target_kind="camera",
        target_id=name,
        camera=name,
        details={"minutes": minutes},
    )
    grants_of(ctx).grant(viewer_key(p), name, minutes)  # only once the record is stored
    return view_state(ctx, p, cam)
