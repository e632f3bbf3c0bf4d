"""A clip from a site, on demand (`vigil.sync.clips`): the site cuts, redacts, signs and
audits it; the hub audits the request too and hands the ZIP to the user, then deletes it."""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from starlette.background import BackgroundTask

from vigil.api.deps import Ctx, Exporter, audit
from vigil.api.schemas import Instant
from vigil.errors import InputError
from vigil.hub.context import HubContext, get_hub
from vigil.privacy.audit import Action
from vigil.sync.clips import ClipNotFound, ClipRequest, SiteUnreachable, fetch_clip

router = APIRouter(prefix="/hub", tags=["hub"])
Hub = Annotated[HubContext, Depends(get_hub)]


class ClipIn(BaseModel):
    start: Instant
    end: Instant
    reason: Annotated[str, Field(min_length=3, max_length=500)]
    redact: bool = Field(True, description="Faces pixelated, privacy masks blacked out.")


def _remove(folder: Path) -> None:
    for f in folder.glob("*"):
        f.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        folder.rmdir()


@router.post(
    "/sites/{site}/cameras/{camera}/clip",
    response_class=FileResponse,
    summary="Fetch a clip from a site: a ZIP with the clip and the site's signed manifest",
    responses={
        200: {"content": {"application/zip": {}}},
        404: {"description": "No such site or camera, or no footage in range"},
        504: {"description": "The site is offline or did not answer"},
    },
)
async def clip(
    site: str, camera: str, body: ClipIn, p: Exporter, ctx: Ctx, hub: Hub, request: Request
) -> FileResponse:
    if site not in hub.sites:
        raise HTTPException(404, f"no site {site!r} at this hub")
    if hub.connect is None:
        raise HTTPException(503, "this hub runs without its nats-server: clips are unavailable")
    req = ClipRequest(camera, body.start, body.end, body.reason.strip(), p.username, body.redact)
    try:
        req.validated()
    except InputError as exc:
        raise HTTPException(422, str(exc)) from exc
    hub.clips_dir.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f"{site}-", dir=hub.clips_dir))
    details = {"site": site, "start": req.start.isoformat(), "end": req.end.isoformat()}
    nc = await hub.connect(site)
    try:
        got = await fetch_clip(nc, site, req, folder, timeout=hub.request_timeout_s)
    except (SiteUnreachable, ClipNotFound) as exc:
        _remove(folder)
        audit(
            ctx,
            request,
            p,
            Action.export,
            reason=req.reason,
            camera=camera,
            details={**details, "error": str(exc)},
        )
        code = 504 if isinstance(exc, SiteUnreachable) else 404
        raise HTTPException(code, str(exc)) from exc
    except BaseException:
        _remove(folder)
        raise
    finally:
        await nc.close()
    audit(
        ctx,
        request,
        p,
        Action.export,
        reason=req.reason,
        camera=camera,
        details=got.audit_details(),
    )
    return FileResponse(
        got.path,
        media_type="application/zip",
        filename=got.path.name,
        headers={"X-Clip-Redacted": str(got.redacted).lower(), "X-Clip-Site": site},
        background=BackgroundTask(_remove, folder),
    )
