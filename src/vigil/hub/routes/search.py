"""Search by photo across every site (`vigil.hub.search.search_across_sites`): who is
this among the people enrolled at the hub, and where were they seen. Reason required; audited
in the hub's audit log with its outcome."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel

from vigil.api.auditing import ChainAudit
from vigil.api.context import ApiContext
from vigil.api.deps import Ctx, Principal, Searcher, client_address
from vigil.api.identity import reveals_identity
from vigil.api.limits import ANALYSIS_SLOT
from vigil.api.routes.search import (
    SearchLimit,
    SearchPhoto,
    SearchReason,
    face_to_search,
    match_figures,
)
from vigil.faces.calibration import load_calibration
from vigil.hub.actor import Actor
from vigil.hub.routes.views import HubEventOut, events_out
from vigil.privacy.audit import AuditLog

router = APIRouter(prefix="/hub", tags=["hub"])


class HubMatchOut(BaseModel):
    person_uid: str | None
    name: str | None
    known: bool
    score: float
    confidence: float
    confidence_text: str
    threshold: float
    objection: bool = False  # an objection recorded at some site covers this face


class HubSearchOut(BaseModel):
    match: HubMatchOut
    events: list[HubEventOut]
    method: str  # "hnsw" (PostgreSQL + pgvector) or "exact"


def hub_audit_log(ctx: ApiContext) -> AuditLog:
    return ctx.audit.log if isinstance(ctx.audit, ChainAudit) else AuditLog.from_config(ctx.config)


def actor(p: Principal, request: Request) -> Actor:
    """Who acts at the hub through its API, as the hub's audit log names them."""
    return Actor(p.username, f"api {client_address(request)}", p.role.value)


@router.post(
    "/search/photo",
    dependencies=[ANALYSIS_SLOT],  # a turn in the photo-analysis pool, else 503
    response_model=HubSearchOut,
    summary="Upload a face: the matching person enrolled at the hub and their events at every site",
)
def search_photo(
    p: Searcher,
    ctx: Ctx,
    request: Request,
    photo: SearchPhoto,
    reason: SearchReason,
    limit: SearchLimit = 50,
) -> HubSearchOut:
    from vigil.hub.search import search_across_sites

    _, face, reason = face_to_search(ctx, photo, reason)
    assert face.embedding is not None
    cal = load_calibration(
        ctx.data_dir, ctx.face_engine().model_name, ctx.config.faces.match_threshold
    )
    r = search_across_sites(
        ctx.db,
        face.embedding,
        who=actor(p, request),
        reason=reason,
        audit=hub_audit_log(ctx),
        calibration=cal,
        limit=limit,
    )
    m = r.match
    with ctx.db.session() as s:
        events = events_out(s, r.events, reveal=reveals_identity(p))
    return HubSearchOut(
        match=HubMatchOut(person_uid=m.person_uid, **match_figures(m)),
        events=events,
        method=r.method,
    )
