"""A camera's zones and masks (as configured in vigil.yaml), the machines' running / idle
time line for a day, and motion spans and event ticks for the camera page's time line.

Zones and masks are read-only here: the configuration file is the one source of truth, so the
zones page draws a polygon and shows the YAML to paste into `vigil.yaml`.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from pydantic import AwareDatetime, BaseModel
from sqlalchemy import select

from vigil.api.deps import Ctx, Viewer
from vigil.api.routes.cameras import find_camera, time_range
from vigil.camera.motion import motion_events_between
from vigil.pipeline.zone_report import zone_day
from vigil.store.models.events import Event, EventKind

router = APIRouter(prefix="/cameras", tags=["zones"])

MAX_TICKS = 5000

Polygon = list[tuple[float, float]]


class ZoneOut(BaseModel):
    name: str
    kind: str
    polygon: Polygon
    min_motion: float
    smoothing_s: float
    inward: str
    allowed_hours: str


class ZonesOut(BaseModel):
    camera: str
    zones: list[ZoneOut]
    privacy_masks: list[Polygon]
    motion_masks: list[Polygon]


class StateSpanOut(BaseModel):
    start: datetime
    end: datetime
    state: str


class MachineOut(BaseModel):
    zone: str
    spans: list[StateSpanOut]
    minutes: dict[str, float]


class DoorwayOut(BaseModel):
    zone: str
    counts: dict[str, int]


class ZoneDayOut(BaseModel):
    camera: str
    day: date
    start: datetime
    end: datetime
    machines: list[MachineOut]
    doorways: list[DoorwayOut]


class MotionSpanOut(BaseModel):
    start: datetime
    end: datetime | None
    peak_area: float


class EventTickOut(BaseModel):
    uid: str
    kind: str
    start: datetime
    end: datetime | None


class ActivityOut(BaseModel):
    camera: str
    start: datetime
    end: datetime
    motion: list[MotionSpanOut]
    events: list[EventTickOut]
    truncated: bool


@router.get("/{name}/zones", response_model=ZonesOut, summary="A camera's zones and masks")
def zones(name: str, p: Viewer, ctx: Ctx) -> ZonesOut:
    cam = find_camera(ctx, name)
    return ZonesOut(
        camera=cam.name,
        zones=[ZoneOut(**z.model_dump()) for z in cam.zones],
        privacy_masks=[list(m) for m in cam.privacy_masks],
        motion_masks=[list(m) for m in cam.motion.masks],
    )


@router.get(
    "/{name}/zones/day",
    response_model=ZoneDayOut,
    summary="Machine running / idle spans and doorway counts for one (local) day",
)
def zones_day(
    name: str,
    p: Viewer,
    ctx: Ctx,
    day: Annotated[date | None, Query(description="YYYY-MM-DD; default: today")] = None,
) -> ZoneDayOut:
    find_camera(ctx, name)
    day = day or datetime.now().astimezone().date()
    if not date(2000, 1, 1) <= day <= date(2999, 12, 31):
        raise HTTPException(422, "day is out of range")
    r = zone_day(ctx.db, name, day)
    return ZoneDayOut(
        camera=name,
        day=day,
        start=r.start,
        end=r.end,
        machines=[
            MachineOut(
                zone=zone,
                spans=[StateSpanOut(start=a, end=b, state=s) for a, b, s in spans],
                minutes={k: round(v, 2) for k, v in r.minutes(zone).items()},
            )
            for zone, spans in sorted(r.machines.items())
        ],
        doorways=[DoorwayOut(zone=zone, counts=dict(c)) for zone, c in sorted(r.doorways.items())],
    )


@router.get(
    "/{name}/activity",
    response_model=ActivityOut,
    summary="Motion spans and event ticks in a time range (default: last 24 h)",
)
def activity(
    name: str,
    p: Viewer,
    ctx: Ctx,
    start: Annotated[AwareDatetime | None, Query(description="ISO 8601 with timezone")] = None,
    end: Annotated[AwareDatetime | None, Query(description="ISO 8601 with timezone")] = None,
) -> ActivityOut:
    find_camera(ctx, name)
    start, end = time_range(start, end)
    motion = motion_events_between(ctx.db, name, start, end)
    with ctx.db.session() as s:
        rows = s.execute(
            select(Event.uid, Event.kind, Event.start, Event.end)
            .where(Event.camera == name, Event.start >= start, Event.start < end)
            .where(Event.kind != EventKind.motion)  # motion is drawn as spans
            .order_by(Event.start.desc())
            .limit(MAX_TICKS + 1)
        ).all()
    return ActivityOut(
        camera=name,
        start=start,
        end=end,
        motion=[MotionSpanOut(start=m.start, end=m.end, peak_area=m.peak_area) for m in motion][
            -MAX_TICKS:
        ],
        events=[
            EventTickOut(uid=u, kind=k.value, start=a, end=b) for u, k, a, b in rows[:MAX_TICKS]
        ],
        truncated=len(rows) > MAX_TICKS or len(motion) > MAX_TICKS,
    )
