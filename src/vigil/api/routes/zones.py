"""A camera's zones and masks (as configured in vigil.yaml), saving them from the zones page,
the machines' running / idle time line for a day, people inside each zone (now, the most,
per minute: `pipeline.occupancy`), and motion spans and event ticks for the camera page's
time line.

vigil.yaml stays the one source of truth: a save (`PUT .../zones`, admins only) edits the file
(`vigil.config_edit`: comments kept, validated first, atomic, refused when the file changed
since the page read it), then swaps the camera's layout in the running config, so the API,
exports and (through `ApiContext.on_camera_change`) the running analysis use it at once.
"""

from __future__ import annotations

from datetime import date, datetime
from datetime import time as clock
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)
from sqlalchemy import select

from vigil import config_edit
from vigil.api.auditing import AuditEntry
from vigil.api.context import ApiContext
from vigil.api.deps import Ctx, Principal, SettingsReader, Viewer, client_address
from vigil.api.routes.cameras import find_camera, time_range
from vigil.api.schemas import Instant, Name
from vigil.camera.checksum import list_problems
from vigil.camera.motion import motion_events_between
from vigil.config import CameraConfig, ZoneConfig
from vigil.errors import ConfigError, NotFoundError
from vigil.pipeline.occupancy import occupancy_series
from vigil.pipeline.zone_report import zone_day
from vigil.privacy.audit import Action
from vigil.store.models.events import Event, EventKind

router = APIRouter(prefix="/cameras", tags=["zones"])

MAX_TICKS = 5000

MAX_POLYGONS = 64  # of each kind, per camera
MAX_POINTS = 256

Polygon = list[tuple[float, float]]
Fraction = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
PolygonIn = Annotated[
    list[tuple[Fraction, Fraction]],
    Field(min_length=3, max_length=MAX_POINTS, description="[x, y] fractions of the picture"),
]


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
    etag: str | None = Field(
        None,
        description="Version of vigil.yaml on disk: send it back with a save. null: this server "
        "has no configuration file to write (zones cannot be saved from here).",
    )


class ZoneIn(ZoneConfig):
    polygon: PolygonIn  # the file model takes any numbers

    @field_validator("allowed_hours")
    @classmethod
    def _real_clock_times(cls, hours: str) -> str:
        # The file model checks only the shape; the running zone monitor parses the times.
        try:
            for part in hours.split("-"):
                if not part.isascii():
                    raise ValueError
                clock.fromisoformat(part)
        except ValueError:
            raise ValueError(
                f"allowed_hours {hours!r} is not HH:MM-HH:MM (00:00 to 23:59)"
            ) from None
        return hours


class LayoutIn(BaseModel):
    """A camera's whole layout: zones and masks left out are removed."""

    model_config = ConfigDict(extra="forbid")

    etag: str = Field(..., min_length=1, max_length=64, description="`etag` from GET .../zones")
    camera: Name | None = Field(None, description="Optional; must be the camera in the path.")
    zones: list[ZoneIn] = Field(default_factory=list, max_length=MAX_POLYGONS)
    privacy_masks: list[PolygonIn] = Field(default_factory=list, max_length=MAX_POLYGONS)
    motion_masks: list[PolygonIn] = Field(default_factory=list, max_length=MAX_POLYGONS)

    @model_validator(mode="after")
    def _unique_zone_names(self) -> LayoutIn:
        names = [z.name for z in self.zones]
        if dupes := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"zone names must be unique per camera; repeated: {', '.join(dupes)}")
        return self


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


class OccupancyPointOut(BaseModel):
    start: datetime
    seconds: float = Field(description="seconds analysed in this step")
    max: int = Field(description="the most people inside at once")
    mean: float = Field(description="people inside on average over the seconds analysed")


class ZoneOccupancyOut(BaseModel):
    zone: str
    now: int | None = Field(
        description="people inside now (the camera's analysis wrote it in the last minute); "
        "null when the camera is not being analysed"
    )
    now_at: datetime | None
    max: int = Field(description="the most people inside at once in the range")
    max_at: datetime | None = Field(description="start of the first step that held `max`")
    mean: float
    seconds: float = Field(description="seconds analysed in the range")
    series: list[OccupancyPointOut]


class OccupancyOut(BaseModel):
    camera: str
    start: datetime
    end: datetime
    step_s: int = Field(description="length of each point of the series (whole minutes)")
    zones: list[ZoneOccupancyOut]


class MotionSpanOut(BaseModel):
    start: datetime
    end: datetime | None
    peak_area: float


class EventTickOut(BaseModel):
    uid: str
    kind: str
    start: datetime
    end: datetime | None


class LostFootageOut(BaseModel):
    start: datetime
    end: datetime
    kind: str  # "missing" (file gone) or "damaged" (checksum differs)
    path: str
    detail: str


class ActivityOut(BaseModel):
    camera: str
    start: datetime
    end: datetime
    motion: list[MotionSpanOut]
    events: list[EventTickOut]
    truncated: bool
    lost: list[LostFootageOut] = Field(
        default_factory=list,
        description="Recorded footage lost later (file gone or damaged), not yet acknowledged",
    )


def _zones_out(cam: CameraConfig, etag: str | None) -> ZonesOut:
    return ZonesOut(
        camera=cam.name,
        zones=[ZoneOut(**z.model_dump()) for z in cam.zones],
        privacy_masks=[list(m) for m in cam.privacy_masks],
        motion_masks=[list(m) for m in cam.motion.masks],
        etag=etag,
    )


def _etag(ctx: ApiContext) -> str | None:
    if ctx.config_path is None:
        return None
    try:
        return config_edit.read_etag(ctx.config_path)
    except ConfigError:
        return None


@router.get("/{name}/zones", response_model=ZonesOut, summary="A camera's zones and masks")
def zones(name: str, p: Viewer, ctx: Ctx) -> ZonesOut:
    return _zones_out(find_camera(ctx, name), _etag(ctx))


@router.put(
    "/{name}/zones",
    response_model=ZonesOut,
    summary="Save a camera's zones, privacy masks and motion masks (admin)",
    responses={
        409: {"description": "vigil.yaml changed since it was read, or cannot be written"},
        422: {"description": "a polygon or zone is invalid; vigil.yaml is untouched"},
    },
)
def save_zones(
    name: str, body: LayoutIn, request: Request, p: SettingsReader, ctx: Ctx
) -> ZonesOut:
    running = find_camera(ctx, name)
    if body.camera is not None and body.camera != name:
        raise HTTPException(422, f"camera: the body names {body.camera!r}, the path {name!r}")
    if ctx.config_path is None:
        raise HTTPException(
            409, "this server was started without a vigil.yaml, so there is no file to save to"
        )
    layout = config_edit.CameraLayout(
        [ZoneConfig(**z.model_dump()) for z in body.zones],
        [list(m) for m in body.privacy_masks],
        [list(m) for m in body.motion_masks],
    )
    try:
        saved = config_edit.save_layout(ctx.config_path, name, layout, body.etag)
    except config_edit.StaleConfig as exc:
        raise HTTPException(409, str(exc)) from exc
    except NotFoundError as exc:  # in the running config but no longer in the file
        raise HTTPException(409, str(exc)) from exc
    except config_edit.InvalidLayout:
        raise  # 422 with the file's own error messages
    except ConfigError as exc:
        raise HTTPException(503, str(exc)) from exc
    before = config_edit.CameraLayout.of(running)
    try:
        _audit_save(ctx, request, p, name, before, config_edit.CameraLayout.of(saved.camera))
    except Exception as exc:  # no unaudited change: put the previous file back
        config_edit.restore(ctx.config_path, saved.previous)
        raise HTTPException(503, "the change could not be audited, so it was undone") from exc
    updated = _apply(ctx, running, saved.camera)
    return _zones_out(updated, saved.etag)


def _counts(layout: config_edit.CameraLayout) -> dict[str, int]:
    return {
        "zones": len(layout.zones),
        "privacy_masks": len(layout.privacy_masks),
        "motion_masks": len(layout.motion_masks),
    }


def _audit_save(
    ctx: ApiContext,
    request: Request,
    p: Principal,
    camera: str,
    before: config_edit.CameraLayout,
    after: config_edit.CameraLayout,
) -> None:
    """Every save is a `change_masks` record (masks are what privacy rests on, so even an
    unchanged save leaves a trace); one that changes zones is also `change_zones`. Counts
    and zone names only, never coordinates."""
    b, a = _counts(before), _counts(after)

    def entry(action: Action, details: dict[str, object]) -> AuditEntry:
        return AuditEntry(
            actor=p.username,
            role=p.role.value,
            action=action,
            target_kind="camera",
            target_id=camera,
            camera=camera,
            source=client_address(request),
            details=details,
        )

    masks_changed = (before.privacy_masks, before.motion_masks) != (
        after.privacy_masks,
        after.motion_masks,
    )
    entries = [
        entry(
            Action.change_masks,
            {
                "privacy_masks": {"before": b["privacy_masks"], "after": a["privacy_masks"]},
                "motion_masks": {"before": b["motion_masks"], "after": a["motion_masks"]},
                "changed": masks_changed,
            },
        )
    ]
    if before.zones != after.zones:
        entries.append(
            entry(
                Action.change_zones,
                {
                    "zones": {"before": b["zones"], "after": a["zones"]},
                    "names": [z.name for z in after.zones],
                },
            )
        )
    with ctx.db.session() as s:  # both records or neither
        for e in entries:
            ctx.record(e, s)


def _apply(ctx: ApiContext, running: CameraConfig, written: CameraConfig) -> CameraConfig:
    """Swap only the layout into the running camera (other edits to the file still need a
    restart), in place in the shared config list, and tell the running analysis."""
    updated = running.model_copy(
        update={
            "zones": written.zones,
            "privacy_masks": written.privacy_masks,
            "motion": running.motion.model_copy(update={"masks": written.motion.masks}),
        }
    )
    cams = ctx.config.cameras
    cams[next(i for i, c in enumerate(cams) if c.name == running.name)] = updated
    if ctx.on_camera_change is not None:
        ctx.on_camera_change(updated)
    return updated


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
    cam = find_camera(ctx, name)
    day = day or datetime.now().astimezone().date()
    if not date(2000, 1, 1) <= day <= date(2999, 12, 31):
        raise HTTPException(422, "day is out of range")
    r = zone_day(ctx.db, name, day, cam.zones)  # every configured zone, even with no data
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
    "/{name}/zones/occupancy",
    response_model=OccupancyOut,
    summary="People inside each zone: now, the most in a range, and per minute (default: 24 h)",
)
def zones_occupancy(
    name: str,
    p: Viewer,
    ctx: Ctx,
    start: Annotated[Instant | None, Query(description="ISO 8601 with timezone")] = None,
    end: Annotated[Instant | None, Query(description="ISO 8601 with timezone")] = None,
) -> OccupancyOut:
    cam = find_camera(ctx, name)
    start, end = time_range(start, end)
    step, found = occupancy_series(ctx.db, name, start, end, [z.name for z in cam.zones])
    return OccupancyOut(
        camera=name,
        start=start,
        end=end,
        step_s=step,
        zones=[
            ZoneOccupancyOut(
                zone=z.zone,
                now=z.now,
                now_at=z.now_at,
                max=z.max_people,
                max_at=z.max_at,
                mean=z.mean_people,
                seconds=z.seconds,
                series=[
                    OccupancyPointOut(
                        start=pt.start, seconds=pt.seconds, max=pt.max_people, mean=pt.mean_people
                    )
                    for pt in z.points
                ],
            )
            for z in found
        ],
    )


@router.get(
    "/{name}/activity",
    response_model=ActivityOut,
    summary="Motion spans, event ticks and lost footage in a time range (default: last 24 h)",
)
def activity(
    name: str,
    p: Viewer,
    ctx: Ctx,
    start: Annotated[Instant | None, Query(description="ISO 8601 with timezone")] = None,
    end: Annotated[Instant | None, Query(description="ISO 8601 with timezone")] = None,
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
    lost = list_problems(ctx.db, camera=name, start=start, end=end, limit=MAX_TICKS)
    return ActivityOut(
        camera=name,
        start=start,
        end=end,
        lost=[
            LostFootageOut(start=x.start, end=x.end, kind=x.kind, path=x.path, detail=x.detail)
            for x in lost
        ],
        motion=[MotionSpanOut(start=m.start, end=m.end, peak_area=m.peak_area) for m in motion][
            -MAX_TICKS:
        ],
        events=[
            EventTickOut(uid=u, kind=k.value, start=a, end=b) for u, k, a, b in rows[:MAX_TICKS]
        ],
        truncated=len(rows) > MAX_TICKS or len(motion) > MAX_TICKS,
    )
