"""The camera page's time line (issue 17, decision 0069): everything it draws for a window in
one request, and thumbnails of the recorded footage while scrubbing.

`GET /cameras/{name}/timeline` is `recordings` (segments, spans, gaps) plus `activity` (motion
spans from the motion gate's stored `motion_events`, event ticks, lost footage) plus the review
items overlapping the window. `GET /cameras/{name}/thumbnail?t=` is a small JPEG of the keyframe
nearest `t`, made on demand and cached (`camera.thumbnails`), with the camera's privacy masks
blacked out and, for a protected viewer, the whole picture pixelated; audited as recorded
viewing is."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Annotated

import numpy as np
from fastapi import APIRouter, HTTPException, Query, Request, Response
from pydantic import Field
from sqlalchemy import select

from vigil.api.context import ApiContext
from vigil.api.deps import Ctx, Viewer
from vigil.api.privacy_view import is_protected
from vigil.api.routes.cameras import audit_view, find_camera, recorded_segment, recordings
from vigil.api.routes.review import items_out
from vigil.api.routes.zones import EventTickOut, LostFootageOut, MotionSpanOut, activity
from vigil.api.schemas import Instant, RecordingsOut, ReviewItemOut
from vigil.camera.thumbnails import ThumbnailCache, ThumbnailsBusy
from vigil.config import CameraConfig
from vigil.errors import InputError
from vigil.events.review import items_between
from vigil.privacy.audit import Action
from vigil.privacy.protected_view import protect_frame
from vigil.store.models.camera import Segment
from vigil.vision.masks import black_out

router = APIRouter(prefix="/cameras", tags=["cameras"])

MAX_REVIEW_ITEMS = 1000


class TimelineOut(RecordingsOut):
    """What the time line draws for a window."""

    motion: list[MotionSpanOut]
    events: list[EventTickOut]
    lost: list[LostFootageOut]
    review: list[ReviewItemOut] = Field(description="Review items overlapping the window.")
    truncated: bool = Field(description="Only the newest motion spans or events are listed.")


@router.get(
    "/{name}/timeline",
    response_model=TimelineOut,
    summary="The time line of a window: recorded spans, gaps, lost footage, motion, events, "
    "review items (default: last 24 h; at most 7 days)",
)
def timeline(
    name: str,
    p: Viewer,
    ctx: Ctx,
    start: Annotated[Instant | None, Query(description="ISO 8601 with timezone")] = None,
    end: Annotated[Instant | None, Query(description="ISO 8601 with timezone")] = None,
) -> TimelineOut:
    rec = recordings(name, p, ctx, start, end)
    act = activity(name, p, ctx, rec.start, rec.end)
    items = items_between(ctx.db, name, rec.start, rec.end, limit=MAX_REVIEW_ITEMS)
    return TimelineOut(
        **dict(rec),  # the models as they are: dumping them to validate again costs ~2x
        motion=act.motion,
        events=act.events,
        lost=act.lost,
        review=items_out(ctx.db, p, items),
        truncated=act.truncated,
    )


def thumbnail_cache(ctx: ApiContext) -> ThumbnailCache:
    cache = ctx.__dict__.get("_thumbnail_cache")
    if cache is None:
        cache = ctx.__dict__["_thumbnail_cache"] = ThumbnailCache(ctx.data_dir)
    return cache


def segment_at(ctx: ApiContext, camera: str, t: datetime) -> Segment | None:
    """The newest segment of `camera` holding the instant `t`."""
    with ctx.db.session() as s:
        return s.scalar(
            select(Segment)
            .where(Segment.camera == camera, Segment.start <= t, Segment.end > t)
            .order_by(Segment.start.desc(), Segment.id.desc())
            .limit(1)
        )


def privacy_variant(cam: CameraConfig, protected: bool) -> str:
    """Names what a thumbnail went through: plain or pixelated, and which masks."""
    masks = json.dumps(cam.privacy_masks, separators=(",", ":"))
    digest = hashlib.sha256(masks.encode()).hexdigest()[:12]
    return f"{'protected' if protected else 'plain'}-{digest}"


@router.get(
    "/{name}/thumbnail",
    response_class=Response,
    summary="A small JPEG of the recorded footage at an instant (the keyframe nearest it)",
    description=(
        "160 px wide, made on demand from the segment holding `t` and cached until the "
        "segment is deleted. Privacy masks are blacked out; for a caller who sees people "
        "pixelated on this camera the whole picture is pixelated. Audited as recorded viewing."
    ),
    responses={
        200: {"content": {"image/jpeg": {}}},
        404: {"description": "No recorded footage of this camera at `t`."},
        503: {"description": "Busy making other thumbnails; retry (Retry-After)."},
    },
)
def thumbnail(
    name: str,
    p: Viewer,
    ctx: Ctx,
    request: Request,
    t: Annotated[Instant, Query(description="The instant, ISO 8601 with timezone")],
) -> Response:
    cam = find_camera(ctx, name)
    seg = segment_at(ctx, name, t)
    if seg is None:
        raise HTTPException(404, f"nothing of {name} was recorded at {t.isoformat()}")
    seg, path = recorded_segment(ctx, name, seg.id)
    protected = is_protected(ctx, p, cam)
    masks = list(cam.privacy_masks)

    def process(image: np.ndarray) -> np.ndarray:
        image = black_out(image, masks)
        return protect_frame(image, None) if protected else image

    offset = (t - seg.start).total_seconds()
    try:
        thumb = thumbnail_cache(ctx).get(
            name, seg, path, offset, privacy_variant(cam, protected), process
        )
    except InputError as exc:
        raise HTTPException(404, f"no picture of {name} at {t.isoformat()}: {exc}") from exc
    except ThumbnailsBusy as exc:
        raise HTTPException(503, f"{exc}; try again shortly", headers={"Retry-After": "2"}) from exc
    audit_view(ctx, request, p, Action.view_recording, name)
    return Response(
        thumb.jpeg,
        media_type="image/jpeg",
        headers={
            "Cache-Control": "no-store",  # the view changes with an unmask and its end
            "X-Thumbnail-Cache": "hit" if thumb.cached else "miss",
            "X-Privacy-View": "protected" if protected else "plain",
            "X-Frame-Offset": f"{thumb.offset_s:.3f}",
        },
    )
