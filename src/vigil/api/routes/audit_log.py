"""The audit log, read-only (admin and auditor). Reading it is itself audited."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from vigil.api.deps import AuditReader, Ctx, audit
from vigil.api.schemas import Instant
from vigil.privacy.audit import Action, AuditLog
from vigil.privacy.recognition_report import MatchRow, PeriodRow, recognition_report

router = APIRouter(prefix="/audit", tags=["audit"])


class AuditRecordOut(BaseModel):
    seq: int
    time: datetime
    actor: str
    role: str
    action: str
    target_kind: str
    target_id: str
    camera: str | None
    person: str | None
    reason: str
    source: str
    details: dict[str, Any]
    hash: str


@router.get("", response_model=list[AuditRecordOut], summary="Audit records, newest first")
def records(
    p: AuditReader,
    ctx: Ctx,
    request: Request,
    actor: Annotated[str | None, Query(max_length=200)] = None,
    action: Annotated[Action | None, Query()] = None,
    person: Annotated[str | None, Query(max_length=50)] = None,
    camera: Annotated[str | None, Query(max_length=100)] = None,
    since: Annotated[Instant | None, Query()] = None,
    until: Annotated[Instant | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditRecordOut]:
    log = AuditLog.from_config(ctx.config)
    rows = log.query(
        ctx.db,
        actor=actor,
        action=action,
        person=person,
        camera=camera,
        since=since,
        until=until,
        limit=limit,
    )
    audit(ctx, request, p, Action.view_audit, details={"results": len(rows)})
    return [AuditRecordOut.model_validate(r, from_attributes=True) for r in rows]


@router.get("/verify", summary="Walk the hash chain and checkpoints; report the first problem")
def verify(p: AuditReader, ctx: Ctx, request: Request) -> dict[str, Any]:
    report = AuditLog.from_config(ctx.config).verify(ctx.db)
    audit(ctx, request, p, Action.audit_verify, details={"ok": report.ok})
    return report.as_dict()


class RecognitionLogOut(BaseModel):
    camera: str | None
    since: str | None
    until: str | None
    periods: list[PeriodRow]
    matches: list[MatchRow]


@router.get(
    "/recognition",
    response_model=RecognitionLogOut,
    summary="The recognition log: periods of live recognition, matches and their verifiers",
)
def recognition(
    p: AuditReader,
    ctx: Ctx,
    request: Request,
    camera: Annotated[str | None, Query(max_length=100)] = None,
    person: Annotated[str | None, Query(max_length=50, description="A person id")] = None,
    since: Annotated[Instant | None, Query()] = None,
    until: Annotated[Instant | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> RecognitionLogOut:
    report = recognition_report(
        ctx.db,
        camera=camera,
        since=since,
        until=until,
        person=[person] if person else None,
        data_dir=ctx.config.storage.data_dir,
        limit=limit,
    )
    audit(
        ctx,
        request,
        p,
        Action.view_audit,
        camera=camera,
        details={
            "kind": "recognition",
            "periods": len(report.periods),
            "matches": len(report.matches),
        },
    )
    return RecognitionLogOut(
        camera=report.camera,
        since=report.since,
        until=report.until,
        periods=report.periods,
        matches=report.matches,
    )
