"""Objections and withdrawal of consent through the API: the photo checks of enrolment, a
reason, the audit record; search by photo withholds the objector and says why nothing of
unknown faces is searched; withdrawal removes at once."""

from __future__ import annotations

from pathlib import Path

from tests.api.helpers import Client
from vigil.api import ApiContext
from vigil.privacy.audit import AuditLog


def _file(path: Path, field: str = "photo") -> dict[str, tuple[str, bytes, str]]:
    return {field: (path.name, path.read_bytes(), "image/jpeg")}


def test_objection_and_withdrawal_by_api(
    clients: dict[str, Client], ctx: ApiContext, faces_dir: Path
) -> None:
    op, viewer = clients["operator"], clients["viewer"]
    r = op.post(
        "/api/v1/people",
        data={"name": "Obama", "legal_basis": "consent"},
        files=[("photos", ("o.jpg", (faces_dir / "obama.jpg").read_bytes(), "image/jpeg"))],
    )
    assert r.status_code == 201, r.text
    pid = r.json()["person"]["id"]
    search = {"reason": "lost badge, case 7"}
    out = op.post("/api/v1/search/photo", data=search, files=_file(faces_dir / "obama2.jpg"))
    assert out.json()["match"]["name"] == "Obama" and out.json()["match"]["objection"] is False
    assert "keeps no template of faces that match nobody" in out.json()["sightings_note"]

    # refused: another role, no reason, a photo enrolment would refuse; nothing stored
    photo = _file(faces_dir / "obama3.jpg")
    assert (
        viewer.post("/api/v1/objections", data={"reason": "asked"}, files=photo).status_code == 403
    )
    r = op.post("/api/v1/objections", data={"reason": " "}, files=photo)
    assert r.status_code == 422 and "reason" in r.json()["detail"]
    r = op.post(
        "/api/v1/objections", data={"reason": "asked"}, files=_file(faces_dir / "two_people.jpg")
    )
    assert r.status_code == 422 and r.json()["photos"][0]["ok"] is False
    assert op.get("/api/v1/objections").json() == []

    r = op.post(
        "/api/v1/objections",
        data={"reason": "objected at reception", "reference": "R-1"},
        files=photo,
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["enrolled_withheld"] == ["Obama"] and body["objection"]["reference"] == "R-1"
    assert [o["uid"] for o in op.get("/api/v1/objections").json()] == [body["objection"]["uid"]]
    log = AuditLog.from_config(ctx.config)
    [rec] = log.query(ctx.db, action="objection_recorded")
    assert rec.actor == "operator" and rec.reason == "objected at reception"

    out = op.post("/api/v1/search/photo", data=search, files=_file(faces_dir / "obama2.jpg")).json()
    m = out["match"]
    assert m["objection"] is True and m["name"] is None and m["person_id"] is None
    assert m["score"] == -1.0 and out["events"] == [] and out["sightings"] == []
    assert "objection" in out["sightings_note"]
    r = op.post(
        "/api/v1/people",
        data={"name": "Obama 2", "legal_basis": "consent"},
        files=[("photos", ("o2.jpg", (faces_dir / "obama2.jpg").read_bytes(), "image/jpeg"))],
    )
    assert r.status_code == 422 and "objected to being recognised" in r.json()["detail"]

    # withdrawal of consent: a reason, then gone at once, audited as such
    assert op.post(f"/api/v1/people/{pid}/withdraw", data={"reason": ""}).status_code == 422
    r = op.post(f"/api/v1/people/{pid}/withdraw", data={"reason": "withdrew by email"})
    assert r.status_code == 200 and r.json() == {"person": "Obama", "templates_deleted": 1}
    assert op.get("/api/v1/people").json() == []
    [rec] = log.query(ctx.db, action="consent_withdrawn")
    assert rec.reason == "withdrew by email" and rec.person == str(pid)
    assert op.post(f"/api/v1/people/{pid}/withdraw", data={"reason": "again"}).status_code == 404
