"""Camera health: each camera's open tamper and fault alarms, its reference picture, and
accepting a new view after an intended move (`vigil.events.health`)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, Field

from vigil.api.context import ApiContext
from vigil.api.deps import Ctx, Principal, SettingsReader, Viewer
from vigil.api.privacy_view import role_protected, unmasked_until
from vigil.api.routes.cameras import audit_view, find_camera
from vigil.config import CameraConfig
from vigil.events.health import CameraHealthState, HealthAlarms, reference_path
from vigil.events.store import get_event
from vigil.privacy.audit import Action
from vigil.privacy.protected_view import protect_snapshot

router = APIRouter(prefix="/health", tags=["health"])


class HealthAlarmOut(BaseModel):
    condition: str = Field(description="covered, dark, blurred, moved, frozen, ...")
    kind: str = Field(description="The event kind: camera_<condition>.")
    uid: str = Field(description="The open event.")
    since: datetime
    snapshot_url: str | None = Field(description="The frame that raised it (after).")
    before_url: str | None = Field(description="The reference it was judged against (before).")


class CameraHealthOut(BaseModel):
    camera: str
    enabled: bool = Field(description="Health checks on for this camera (`health.enabled`).")
    healthy: bool
    alarms: list[HealthAlarmOut]
    reference_at: datetime | None
    reference_url: str | None
    measures: dict[str, Any] = Field(description="The newest frame's picture measures.")
    updated_at: datetime | None


def _alarms(ctx: ApiContext) -> HealthAlarms:
    return HealthAlarms(ctx.db, ctx.data_dir)


def health_out(ctx: ApiContext, st: CameraHealthState) -> CameraHealthOut:
    cam = next((c for c in ctx.config.cameras if c.name == st.camera), None)
    return CameraHealthOut(
        camera=st.camera,
        enabled=cam is not None and ctx.config.health_of(cam).enabled,
        healthy=st.healthy,
        alarms=[
            HealthAlarmOut(
                condition=condition,
                kind=e.kind.value,
                uid=e.uid,
                since=e.start,
                snapshot_url=f"/api/v1/events/{e.uid}/snapshot.jpg" if e.snapshot else None,
                before_url=f"/api/v1/health/events/{e.uid}/before.jpg"
                if e.details.get("before")
                else None,
            )
            for condition, e in st.open.items()
        ],
        reference_at=st.reference_at,
        reference_url=f"/api/v1/health/cameras/{st.camera}/reference.jpg" if st.reference else None,
        measures=st.measures,
        updated_at=st.updated_at,
    )


@router.get(
    "/cameras", response_model=list[CameraHealthOut], summary="Every camera's health and alarms"
)
def cameras_health(p: Viewer, ctx: Ctx) -> list[CameraHealthOut]:
    names = [c.name for c in ctx.config.cameras]
    return [health_out(ctx, st) for st in _alarms(ctx).states(names)]


@router.get("/cameras/{name}", response_model=CameraHealthOut, summary="One camera's health")
def camera_health(name: str, p: Viewer, ctx: Ctx) -> CameraHealthOut:
    find_camera(ctx, name)
    return health_out(ctx, _alarms(ctx).state(name))


def _picture(ctx: ApiContext, p: Principal, request: Request, camera: str, path: Path) -> Response:
    """A health picture, pixelated for a protected viewer like an event snapshot."""
    audit_view(ctx, request, p, Action.view_events, camera)
    cam = next((c for c in ctx.config.cameras if c.name == camera), None)
    cam = cam or CameraConfig(name=camera, url="")
    if role_protected(p, cam) and unmasked_until(ctx, p, cam) is None:
        return Response(protect_snapshot(path.read_bytes()), media_type="image/jpeg")
    return FileResponse(path, media_type="image/jpeg")


@router.get(
    "/cameras/{name}/reference.jpg",
    response_class=FileResponse,
    summary="The camera's kept reference picture (JPEG)",
    responses={200: {"content": {"image/jpeg": {}}}},
)
def reference_picture(name: str, p: Viewer, ctx: Ctx, request: Request) -> Response:
    find_camera(ctx, name)
    return _picture(ctx, p, request, name, reference_path(ctx.db, ctx.data_dir, name))


@router.get(
    "/events/{uid}/before.jpg",
    response_class=FileResponse,
    summary="A health alarm's before picture: the reference it was judged against (JPEG)",
    responses={200: {"content": {"image/jpeg": {}}}},
)
def before_picture(uid: str, p: Viewer, ctx: Ctx, request: Request) -> Response:
    e = get_event(ctx.db, uid)
    rel = e.details.get("before") if e is not None and e.details else None
    root = ctx.data_dir.resolve()
    path = (root / rel).resolve() if isinstance(rel, str) else None
    if e is None or path is None or not path.is_relative_to(root) or not path.is_file():
        raise HTTPException(404, f"no before picture for event {uid}")
    return _picture(ctx, p, request, e.camera, path)


@router.post(
    "/cameras/{name}/accept",
    response_model=CameraHealthOut,
    summary="Accept the camera's current view (after an intended move or refocus)",
)
def accept_view(name: str, p: SettingsReader, ctx: Ctx) -> CameraHealthOut:
    """The reference is taken again from the camera's next normal frame: an open `moved` or
    `blurred` alarm then clears by itself."""
    find_camera(ctx, name)
    alarms = _alarms(ctx)
    alarms.forget_reference(name)
    return health_out(ctx, alarms.state(name))
