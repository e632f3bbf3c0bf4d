"""ONVIF cameras from the web UI: discover them, read one's profiles, add it to vigil.yaml (the
`settings` permission, audited as `change_config`), and drive a configured camera's PTZ (the
`ptz` permission: admins and operators; each move and preset recall audited as `ptz_move`).

An address typed in that does not answer as an ONVIF camera is a 400, a configured camera that
does not answer a 502, one that refuses the user name or password a 422, each saying so. A camera
added here runs after `vigil serve` restarts (the recorder and the analysis read their cameras at
start); its PTZ works from then on too.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field

from vigil import config_edit
from vigil.api.auditing import AuditEntry
from vigil.api.deps import Ctx, Principal, PtzDriver, SettingsReader, Viewer, client_address
from vigil.api.routes.cameras import find_camera
from vigil.api.schemas import Name
from vigil.camera.source import redact_url
from vigil.config import OnvifCameraConfig
from vigil.errors import ConfigError
from vigil.onvif import discovery
from vigil.onvif.adding import camera_entry, inspect
from vigil.onvif.device import OnvifDevice
from vigil.onvif.soap import OnvifAuthError, OnvifError
from vigil.privacy.audit import Action

router = APIRouter(tags=["onvif"])

Speed = Annotated[float, Field(ge=-1, le=1, allow_inf_nan=False)]


@contextmanager
def device_errors(status: int = 502) -> Iterator[None]:
    """A device that does not answer (or answers a fault): `status` with what went wrong; one
    that refuses the credentials: 422 saying so."""
    try:
        yield
    except OnvifAuthError:
        raise
    except OnvifError as exc:
        raise HTTPException(status, exc.message) from exc


class Login(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(..., min_length=1, max_length=500, description="Device address or URL")
    username: str = Field("", max_length=200)
    password: str = Field("", max_length=200)


class AddIn(Login):
    name: Name
    main: str | None = Field(None, max_length=200, description="Main profile token")
    sub: str | None = Field(None, max_length=200, description="Sub profile token")
    events: bool = False


class MoveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pan: Speed = 0.0
    tilt: Speed = 0.0
    zoom: Speed = 0.0
    seconds: Annotated[float, Field(gt=0, le=10, allow_inf_nan=False)] = 1.0


@router.get("/onvif/discover", summary="ONVIF cameras that answer a WS-Discovery probe (admin)")
def discover_cameras(p: SettingsReader, ctx: Ctx) -> list[dict[str, Any]]:
    o = ctx.config.onvif
    with device_errors(503):
        found = discovery.discover(o.discovery_address, o.discovery_port, o.discovery_timeout_s)
    return [f.as_dict() for f in found]


@router.post("/onvif/inspect", summary="An ONVIF camera's information and profiles (admin)")
def inspect_camera(body: Login, p: SettingsReader) -> dict[str, Any]:
    with device_errors(400):  # the address typed is not a camera that answers
        return inspect(OnvifDevice.connect(body.url, body.username, body.password)).as_dict()


@router.post(
    "/onvif/cameras",
    status_code=201,
    summary="Add an ONVIF camera with its main and sub stream to vigil.yaml (admin)",
    responses={409: {"description": "the name is taken, or there is no vigil.yaml"}},
)
def add_camera(body: AddIn, request: Request, p: SettingsReader, ctx: Ctx) -> dict[str, Any]:
    if ctx.config_path is None:
        raise HTTPException(
            409, "this server was started without a vigil.yaml, so there is no file to add to"
        )
    if any(c.name == body.name for c in ctx.config.cameras):
        raise HTTPException(409, f"a camera named {body.name!r} is already configured")
    with device_errors(400):
        found = inspect(OnvifDevice.connect(body.url, body.username, body.password))
    entry = camera_entry(
        found,
        body.name,
        body.username,
        body.password,
        main=body.main,
        sub=body.sub,
        events=body.events,
    )
    try:
        saved = config_edit.add_camera(ctx.config_path, entry)
    except config_edit.InvalidLayout:
        raise
    except ConfigError as exc:
        raise HTTPException(503, str(exc)) from exc
    try:
        ctx.record(
            AuditEntry(
                actor=p.username,
                role=p.role.value,
                action=Action.change_config,
                target_kind="camera",
                target_id=body.name,
                camera=body.name,
                source=client_address(request),
                details={"added": "onvif", "device": found.url, "model": found.info.model},
            )
        )
    except Exception as exc:  # no unaudited change: put the previous file back
        config_edit.restore(ctx.config_path, saved.previous)
        raise HTTPException(503, "the change could not be audited, so it was undone") from exc
    cam = saved.camera
    return {
        "name": cam.name,
        "url": redact_url(cam.url),
        "sub_url": redact_url(cam.sub_url) if cam.sub_url else None,
        "ptz": found.ptz,
        "events": body.events,
        "restart_needed": True,
    }


# --- PTZ ----------------------------------------------------------------------------------


def _onvif(ctx: Ctx, name: str) -> OnvifCameraConfig:
    cam = find_camera(ctx, name)
    if cam.onvif is None:
        raise HTTPException(404, f"camera {name!r} has no onvif section in vigil.yaml")
    return cam.onvif


def _ptz(ctx: Ctx, name: str) -> tuple[OnvifDevice, str]:
    cfg = _onvif(ctx, name)
    with device_errors():
        device = OnvifDevice.connect(cfg.url, cfg.username, cfg.secret())
        if device.services.ptz is None:
            raise HTTPException(404, f"camera {name!r} offers no pan, tilt or zoom")
        return device, device.ptz_profile().token


def _audit_ptz(
    ctx: Ctx, request: Request, p: Principal, camera: str, details: dict[str, Any]
) -> None:
    ctx.record(
        AuditEntry(
            actor=p.username,
            role=p.role.value,
            action=Action.ptz_move,
            target_kind="camera",
            target_id=camera,
            camera=camera,
            source=client_address(request),
            details=details,
        )
    )


@router.get("/cameras/{name}/ptz", summary="A camera's PTZ: its presets (404 if it has none)")
def ptz_state(name: str, p: Viewer, ctx: Ctx) -> dict[str, Any]:
    device, profile = _ptz(ctx, name)
    with device_errors():
        presets = device.presets(profile)
    return {"camera": name, "presets": [{"token": x.token, "name": x.name} for x in presets]}


@router.post("/cameras/{name}/ptz/move", summary="Move a camera (speeds -1..1) for a while")
def ptz_move(name: str, body: MoveIn, request: Request, p: PtzDriver, ctx: Ctx) -> dict[str, str]:
    device, profile = _ptz(ctx, name)
    _audit_ptz(ctx, request, p, name, {"move": [body.pan, body.tilt, body.zoom]})
    with device_errors():
        device.move(profile, body.pan, body.tilt, body.zoom, body.seconds)
    return {"camera": name, "moving": "yes"}


@router.post("/cameras/{name}/ptz/stop", summary="Stop a camera's movement")
def ptz_stop(name: str, p: PtzDriver, ctx: Ctx) -> dict[str, str]:
    device, profile = _ptz(ctx, name)
    with device_errors():
        device.stop(profile)
    return {"camera": name, "moving": "no"}


@router.post("/cameras/{name}/ptz/presets/{preset}", summary="Send a camera to a preset")
def ptz_goto(name: str, preset: str, request: Request, p: PtzDriver, ctx: Ctx) -> dict[str, str]:
    device, profile = _ptz(ctx, name)
    with device_errors():
        known = {x.token: x.name for x in device.presets(profile)}
        if preset not in known:
            raise HTTPException(404, f"camera {name!r} has no preset {preset!r}")
        _audit_ptz(ctx, request, p, name, {"preset": preset, "preset_name": known[preset]})
        device.goto_preset(profile, preset)
    return {"camera": name, "preset": preset}
