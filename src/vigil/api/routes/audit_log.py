"""The audit log, read-only (admin and auditor). Reading it is itself audited.

`/audit/recognition` is the recognition log (`privacy.recognition_report`); its `/export` is
the signed document for an authority, as a bundle ZIP (`vigil export verify` checks it).
"""

from __future__ import annotations

import tempfile
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from vigil.api.deps import AuditReader, Ctx, audit, client_address
from vigil.api.schemas import Instant
from vigil.privacy import witness
from vigil.privacy.audit import Action, AuditLog
from vigil.privacy.bundle import write_bundle
from vigil.privacy.recognition_report import (
    MatchRow,
    PeriodRow,
    export_recognition_log,
    recognition_report,
)

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


@router.get(
    "/verify",
    summary="Walk the hash chain, checkpoints and witnessed heads; report the first problem",
)
def verify(p: AuditReader, ctx: Ctx, request: Request) -> dict[str, Any]:
    """`witness`: how far back a witness off the machine holds the chain (0065)."""
    report = witness.verify(ctx.config, ctx.db)
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


class RecognitionExportIn(BaseModel):
    since: Instant = Field(description="From, ISO 8601 with a timezone.")
    until: Instant = Field(description="Before, ISO 8601 with a timezone.")
    camera: str | None = Field(None, max_length=100, description="Only this camera.")
    reason: str = Field(max_length=2000, description="Why (audited), e.g. an authority's ref.")


@router.post(
    "/recognition/export",
    response_class=Response,
    responses={200: {"content": {"application/zip": {}}}},
    summary="The recognition log of a time range, signed with the site key, as a ZIP",
)
def export_recognition(
    body: RecognitionExportIn, p: AuditReader, ctx: Ctx, request: Request
) -> Response:
    with tempfile.TemporaryDirectory() as tmp:
        doc, manifest = export_recognition_log(
            ctx.db,
            AuditLog.from_config(ctx.config),
            data_dir=ctx.config.storage.data_dir,
            out=Path(tmp),
            since=body.since,
            until=body.until,
            camera=body.camera,
            actor=p.username,
            role=p.role.value,
            reason=body.reason,
            source=client_address(request),
        )
        bundle = write_bundle(doc.with_suffix(".zip"), [doc], manifest)
        data = bundle.read_bytes()
    return Response(
        data,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{bundle.name}"'},
    )
