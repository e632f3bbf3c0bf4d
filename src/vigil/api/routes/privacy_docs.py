"""The documents written from the live settings, for auditors and admins: the public notice,
the workers' notice, the DPIA draft and the record of processing, each as HTML or PDF.
Each download is written fresh (`vigil.privacy.documents`), so it says what runs now."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from vigil.api.deps import AuditReader, Ctx
from vigil.privacy.documents import FILE_STEM, DocumentName, build_document
from vigil.privacy.notice import Notice, render_html, render_pdf

router = APIRouter(prefix="/privacy", tags=["privacy"])

STEM_TO_NAME: dict[str, DocumentName] = {stem: name for name, stem in FILE_STEM.items()}
Stem = Literal["notice", "notice-workers", "dpia", "records"]


def _document(ctx: Ctx, stem: Stem) -> Notice:
    return build_document(STEM_TO_NAME[stem], ctx.config, ctx.db, ctx.data_dir)


@router.get(
    "/{stem}.pdf",
    summary="A privacy document as PDF: notice, notice-workers, dpia (draft) or records "
    "(GDPR Art. 30), written now from the live settings",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
)
def document_pdf(stem: Stem, p: AuditReader, ctx: Ctx) -> Response:
    doc = _document(ctx, stem)
    return Response(
        render_pdf(doc),
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{stem}.pdf"'},
    )


@router.get(
    "/{stem}.html",
    summary="A privacy document as HTML (see the PDF)",
    response_class=HTMLResponse,
)
def document_html(stem: Stem, p: AuditReader, ctx: Ctx) -> HTMLResponse:
    doc = _document(ctx, stem)
    return HTMLResponse(render_html(doc))
