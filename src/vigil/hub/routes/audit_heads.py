"""A site's audit chain as the hub witnessed it (0065): the heads it kept, the records it holds
and the site's chain now (asked over the site's command channel when the link is up)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request

from vigil.api.deps import AuditReader, Ctx, audit
from vigil.hub.audit_witness import ask_and_verify
from vigil.hub.context import HubContext, get_hub
from vigil.privacy.audit import Action

router = APIRouter(prefix="/hub", tags=["hub"])
Hub = Annotated[HubContext, Depends(get_hub)]
ASK_TIMEOUT_S = 5.0


@router.get(
    "/sites/{site}/audit/verify",
    summary="Which records the hub saw that the site's audit chain lost (`ok`, `losses`)",
)
async def verify_site_audit(
    site: str, p: AuditReader, ctx: Ctx, hub: Hub, request: Request
) -> dict[str, Any]:
    if site not in hub.sites:
        raise HTTPException(404, f"no site {site!r} at this hub")
    report, unreachable = await ask_and_verify(ctx.db, site, hub.connect, ASK_TIMEOUT_S)
    audit(
        ctx,
        request,
        p,
        Action.audit_verify,
        target_kind="site",
        target_id=site,
        details={"ok": report.ok, "asked": report.asked, "lost": report.lost_seqs()},
    )
    return {**report.as_dict(), "unreachable": unreachable or None}
