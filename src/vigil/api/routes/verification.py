"""Matches to verify (AI Act Art. 14(5)): the pending list, one event's verdicts, a verdict.

Needs the `verify` permission (operator and admin). Each verdict is audited as `match_verify`
with its reason, in the verdict's own transaction; the same user twice is refused with 409.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from vigil.api.auditing import AuditEntry
from vigil.api.deps import Ctx, Principal, Verifier, client_address
from vigil.api.routes.events import events_out
from vigil.api.schemas import EventOut
from vigil.events import verification
from vigil.events.store import get_event
from vigil.privacy.audit import Action
from vigil.store.models.events import Event, MatchVerification

router = APIRouter(tags=["verification"])


class VerdictIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    verdict: Literal["confirm", "reject"]
    reason: str = Field(min_length=1, max_length=500, description="What you checked")


class VerdictOut(BaseModel):
    actor: str
    verdict: str
    reason: str
    at: datetime


class VerificationOut(BaseModel):
    uid: str
    state: str | None = Field(description="pending, confirmed, rejected; null: not needed")
    required: int
    confirmations: int
    verdicts: list[VerdictOut]
    released: int = Field(0, description="Held notifications this verdict sent on their way")
    cancelled: int = Field(0, description="Held notifications this verdict cancelled")


class PendingOut(BaseModel):
    total: int
    events: list[EventOut]


def _verdicts(rows: list[MatchVerification]) -> list[VerdictOut]:
    return [
        VerdictOut(actor=r.actor, verdict=r.verdict.value, reason=r.reason, at=r.at) for r in rows
    ]


@router.get(
    "/verifications",
    response_model=PendingOut,
    summary="Matches waiting for people to confirm them, newest first",
)
def pending(p: Verifier, ctx: Ctx, limit: Annotated[int, Query(ge=1, le=500)] = 100) -> PendingOut:
    events, total = verification.pending(ctx.db, limit)
    return PendingOut(total=total, events=events_out(ctx.db, events, reveal=True))


@router.get(
    "/events/{uid}/verification", response_model=VerificationOut, summary="A match's verdicts"
)
def state(uid: str, p: Verifier, ctx: Ctx) -> VerificationOut:
    e = get_event(ctx.db, uid)
    if e is None:
        raise HTTPException(404, f"no event {uid}")
    rows = verification.verdicts_of(ctx.db, uid)
    return VerificationOut(
        uid=uid,
        state=e.verification.value if e.verification else None,
        required=e.confirmations_required,
        confirmations=sum(r.verdict == "confirm" for r in rows),
        verdicts=_verdicts(rows),
    )


@router.post(
    "/events/{uid}/verification",
    response_model=VerificationOut,
    summary="Confirm or reject a match (two different people release its notifications)",
    responses={409: {"description": "Given already by this user, or decided already"}},
)
def verify(uid: str, body: VerdictIn, p: Verifier, ctx: Ctx, request: Request) -> VerificationOut:
    def audit(session: Session, event: Event, person: int | None) -> None:
        ctx.record(_entry(p, request, event.camera, uid, body, person), session)

    # No wake: the dispatcher (another thread or process) finds released rows within its poll.
    out = verification.verify(
        ctx.db,
        uid,
        actor=p.username,
        verdict=body.verdict,
        reason=body.reason,
        audit=audit,
    )
    return VerificationOut(
        uid=uid,
        state=out.state.value,
        required=out.required,
        confirmations=out.confirmations,
        verdicts=_verdicts(out.verdicts),
        released=out.released,
        cancelled=out.cancelled,
    )


def _entry(
    p: Principal, request: Request, camera: str, uid: str, body: VerdictIn, person: int | None
) -> AuditEntry:
    return AuditEntry(
        actor=p.username,
        role=p.role.value,
        action=Action.match_verify,
        reason=body.reason,
        target_kind="event",
        target_id=uid,
        camera=camera,
        person=person,
        source=client_address(request),
        details={"event": uid, "verdict": body.verdict, "person": person},
    )
