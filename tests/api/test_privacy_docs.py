"""The privacy documents from the API and the Privacy page: auditors and admins only, written
from the live settings at each download (decision 0064)."""

from __future__ import annotations

import io

from pypdf import PdfReader

from tests.api.helpers import Client, client_for
from vigil.api import ApiContext
from vigil.api.app import create_app


def _recognising(ctx: ApiContext) -> None:
    cfg = ctx.config.model_dump()
    cfg["site"] |= {"operator": "Test Operator Ltd", "contact": "dpo@test.example"}
    cfg["privacy"] |= {
        "face_recognition_enabled": True,
        "face_recognition_purpose": "Recognise staff at the lobby.",
        "legal_basis": "consent",
    }
    cfg["cameras"][0] |= {"purpose": "Lobby access.", "field_of_view": "The lobby."}
    ctx.config = type(ctx.config).model_validate(cfg)  # publicly_accessible still missing


def test_documents_download_for_auditors_and_admins_only(
    ctx: ApiContext, clients: dict[str, Client], anon: Client
) -> None:
    _recognising(ctx)
    r = clients["viewer"].get("/api/v1/cameras/lobby")
    assert r.status_code == 200 and r.json()["recognises"] is False
    assert "its record lacks publicly_accessible" in r.json()["recognition_note"]

    for stem in ("dpia", "records", "notice-workers"):
        for role in ("auditor", "admin"):
            r = clients[role].get(f"/api/v1/privacy/{stem}.pdf")
            assert r.status_code == 200, r.text
            assert r.headers["content-type"] == "application/pdf"
            assert f'filename="{stem}.pdf"' in r.headers["content-disposition"]
            text = " ".join(
                " ".join(p.extract_text() for p in PdfReader(io.BytesIO(r.content)).pages).split()
            )
            assert "Test Operator Ltd" in text and "lobby" in text
        r = clients["auditor"].get(f"/api/v1/privacy/{stem}.html")
        assert r.status_code == 200 and "Test Operator Ltd" in r.text
        for role in ("operator", "viewer"):
            assert clients[role].get(f"/api/v1/privacy/{stem}.pdf").status_code == 403
        assert anon.get(f"/api/v1/privacy/{stem}.pdf").status_code == 401
    dpia = clients["auditor"].get("/api/v1/privacy/dpia.html").text
    assert "RECOGNITION OFF: record incomplete, lacks publicly_accessible" in dpia
    # the public notice refuses while a camera set to recognise lacks its record
    r = clients["auditor"].get("/api/v1/privacy/notice.pdf")
    assert r.status_code == 400 and "camera lobby does not recognise faces" in r.json()["detail"]
    assert clients["auditor"].get("/api/v1/privacy/secrets.pdf").status_code == 422

    ctx.config.cameras[0].publicly_accessible = False  # the record complete: it recognises
    r = clients["auditor"].get("/api/v1/privacy/notice.pdf")
    assert r.status_code == 200
    text = " ".join(PdfReader(io.BytesIO(r.content)).pages[0].extract_text().split())
    assert "Face recognition is ON at lobby." in text


def test_privacy_page_links_the_documents(ctx: ApiContext) -> None:
    _recognising(ctx)
    web = Client(create_app(ctx, web=True)).login("auditor")
    r = web.get("/privacy")
    assert r.status_code == 200
    for stem in ("notice", "notice-workers", "dpia", "records"):
        assert f'href="/api/v1/privacy/{stem}.pdf"' in r.text
    assert "its record lacks publicly_accessible" in r.text
    assert 'href="/privacy"' in r.text  # in the menu
    viewer = Client(create_app(ctx, web=True)).login("viewer")
    assert viewer.get("/privacy").status_code == 403
    assert 'href="/privacy"' not in viewer.get("/").text
    assert client_for(ctx, "admin").get("/api/v1/privacy/records.pdf").status_code == 200
