"""Enrolment by upload, quality feedback, removal, search by photo, events."""

from __future__ import annotations

from pathlib import Path

from tests.api.helpers import Client, now
from vigil.api import ApiContext
from vigil.events.store import create_event
from vigil.privacy.audit import AuditLog


def _photo(path: Path, name: str | None = None) -> tuple[str, tuple[str, bytes, str]]:
    return ("photos", (name or path.name, path.read_bytes(), "image/jpeg"))


def _enrol(c: Client, faces_dir: Path, **form: str):  # type: ignore[no-untyped-def]
    data = {"name": "Barack Obama", "legal_basis": "consent", **form}
    return c.post("/api/v1/people", data=data, files=[_photo(faces_dir / "obama.jpg")])


def test_enrol_list_remove(clients: dict[str, Client], ctx: ApiContext, faces_dir: Path) -> None:
    op = clients["operator"]
    r = _enrol(op, faces_dir)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["added"] == 1 and body["photos"][0]["ok"]
    pid = body["person"]["id"]
    assert body["person"]["legal_bases"] == ["consent"]
    people = op.get("/api/v1/people").json()
    assert [p["name"] for p in people] == ["Barack Obama"]
    assert people[0]["enrolled_by"] == "operator"
    assert _enrol(op, faces_dir).json()["added"] == 0  # the same photo twice adds nothing
    log = AuditLog.from_config(ctx.config)
    assert log.query(ctx.db, action="enroll", person=str(pid))
    for params in ({}, {"reason": " "}, {"reason": "x"}):  # removal is processing: a reason
        r = op.delete(f"/api/v1/people/{pid}", params=params)
        assert r.status_code == 422 and "reason" in r.json()["detail"], r.text
    assert [p["id"] for p in op.get("/api/v1/people").json()] == [pid]
    assert not log.query(ctx.db, action="remove_person")
    assert (
        op.delete(f"/api/v1/people/{pid}", params={"reason": "left the company"}).status_code == 204
    )
    assert op.get("/api/v1/people").json() == []
    assert op.delete(f"/api/v1/people/{pid}", params={"reason": "again"}).status_code == 404
    assert log.query(ctx.db, action="remove_person")[0].reason == "left the company"


def test_enrol_refusals(clients: dict[str, Client], ctx: ApiContext, faces_dir: Path) -> None:
    op = clients["operator"]
    r = op.post(
        "/api/v1/people",
        data={"name": "X", "legal_basis": "consent"},
        files=[("photos", ("notes.txt", b"hello, not an image", "text/plain"))],
    )
    assert r.status_code == 422
    assert "not an image" in r.json()["detail"]
    r = op.post(
        "/api/v1/people",
        data={"name": "X", "legal_basis": "consent"},
        files=[("photos", ("empty.jpg", b"", "image/jpeg"))],
    )
    assert r.status_code == 422 and "empty" in r.json()["detail"]
    r = op.post(
        "/api/v1/people",
        data={"name": "X", "legal_basis": "consent"},
        files=[_photo(faces_dir / "two_people.jpg")],
    )
    assert r.status_code == 422 and r.json()["photos"][0]["ok"] is False
    r = _enrol(op, faces_dir, legal_basis="legitimate_interest")
    assert r.status_code == 422 and "note" in r.json()["detail"]
    assert _enrol(op, faces_dir, legal_basis="because").status_code == 422
    r = op.post("/api/v1/people", data={"name": "X", "legal_basis": "consent"})
    assert r.status_code == 422 and "photos" in r.json()["detail"]
    r = _enrol(op, faces_dir, name="   ")
    assert r.status_code == 422
    assert op.get("/api/v1/people").json() == []  # nothing was enrolled
    # Quality feedback without storing anything: faces are processed, so with a reason, audited.
    photos = [_photo(faces_dir / "obama.jpg"), _photo(faces_dir / "obama_small.jpg")]
    log, db = AuditLog.from_config(ctx.config), ctx.db
    for data in ({}, {"reason": ""}, {"reason": "  x "}):
        r = op.post("/api/v1/people/check", data=data, files=photos)
        assert r.status_code == 422 and "reason" in r.json()["detail"], r.text
    assert not log.query(db, action="check_photos")
    r = op.post("/api/v1/people/check", data={"reason": "new starter, badge 12"}, files=photos)
    assert r.status_code == 200
    verdicts = r.json()["photos"]
    assert verdicts[0]["ok"] is True and verdicts[0]["score"] > 0.5
    [rec] = log.query(db, action="check_photos")
    assert rec.actor == "operator" and rec.reason == "new starter, badge 12"
    assert rec.details == {"photos": 2, "passed": sum(v["ok"] for v in verdicts)}


def test_viewer_cannot_enrol_or_search(clients: dict[str, Client], faces_dir: Path) -> None:
    r = _enrol(clients["viewer"], faces_dir)
    assert r.status_code == 403 and "viewer role may not" in r.json()["detail"]
    r = clients["viewer"].post(
        "/api/v1/search/photo",
        data={"reason": "curious"},
        files={"photo": ("a.jpg", b"x", "image/jpeg")},
    )
    assert r.status_code == 403


def test_search_by_photo(clients: dict[str, Client], ctx: ApiContext, faces_dir: Path) -> None:
    op = clients["operator"]
    pid = _enrol(op, faces_dir).json()["person"]["id"]
    ev = create_event(
        ctx.db,
        camera="lobby",
        kind="known_person",
        start=now(),
        person_id=pid,
        score=0.7,
        confidence=0.99,
        snapshot_jpeg=(faces_dir / "obama.jpg").read_bytes(),
        data_dir=ctx.data_dir,
    )
    probe = {"photo": ("probe.jpg", (faces_dir / "obama2.jpg").read_bytes(), "image/jpeg")}
    r = op.post("/api/v1/search/photo", data={"reason": "lost badge, case 7"}, files=probe)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["match"]["known"] and out["match"]["name"] == "Barack Obama"
    assert out["match"]["score"] > out["match"]["threshold"]
    assert [e["uid"] for e in out["events"]] == [ev.uid]
    assert out["events"][0]["person"] == "Barack Obama"
    snap = op.get(out["events"][0]["snapshot_url"])
    assert snap.status_code == 200 and snap.content[:2] == b"\xff\xd8"
    rec = AuditLog.from_config(ctx.config).query(ctx.db, action="search_face")[0]
    assert rec.reason == "lost badge, case 7" and rec.person == str(pid)
    # Someone else: unknown, and no name leaks.
    other = {"photo": ("b.jpg", (faces_dir / "biden.jpg").read_bytes(), "image/jpeg")}
    out = op.post("/api/v1/search/photo", data={"reason": "lost badge, case 7"}, files=other).json()
    assert out["match"]["known"] is False and out["match"]["name"] is None and out["events"] == []
    # A reason is required, and the photo must hold a face.
    r = op.post("/api/v1/search/photo", files=probe)
    assert r.status_code == 422 and "reason" in r.json()["detail"]
    r = op.post("/api/v1/search/photo", data={"reason": "x"}, files=probe)
    assert r.status_code == 422
    blank = {"photo": ("blank.png", _blank_png(), "image/png")}
    r = op.post("/api/v1/search/photo", data={"reason": "case 7"}, files=blank)
    assert r.status_code == 422 and "no face" in r.json()["detail"]
    r = op.post(
        "/api/v1/search/photo",
        data={"reason": "case 7"},
        files={"photo": ("e.jpg", b"", "image/jpeg")},
    )
    assert r.status_code == 422 and "empty" in r.json()["detail"]


def test_events_list_and_filters(clients: dict[str, Client], ctx: ApiContext) -> None:
    for i in range(5):
        create_event(ctx.db, camera="lobby" if i % 2 else "yard", kind="person", start=now())
    v = clients["viewer"]
    page = v.get("/api/v1/events", params={"limit": 2}).json()
    assert len(page["events"]) == 2 and page["next_cursor"]
    page2 = v.get("/api/v1/events", params={"limit": 2, "cursor": page["next_cursor"]}).json()
    assert {e["uid"] for e in page2["events"]}.isdisjoint({e["uid"] for e in page["events"]})
    lobby = v.get("/api/v1/events", params={"camera": "lobby"}).json()["events"]
    assert len(lobby) == 2 and all(e["camera"] == "lobby" for e in lobby)
    assert v.get("/api/v1/events", params={"kind": "person"}).json()["events"]
    assert v.get("/api/v1/events", params={"kind": "dragon"}).status_code == 422
    assert v.get("/api/v1/events", params={"cursor": "garbage"}).status_code == 422
    assert v.get("/api/v1/events", params={"limit": 0}).status_code == 422
    uid = lobby[0]["uid"]
    assert v.get(f"/api/v1/events/{uid}").json()["uid"] == uid
    assert v.get("/api/v1/events/nope").status_code == 404
    assert v.get(f"/api/v1/events/{uid}/snapshot.jpg").status_code == 404


def _blank_png() -> bytes:
    import cv2
    import numpy as np

    _ok, buf = cv2.imencode(".png", np.full((200, 200, 3), 128, np.uint8))
    return buf.tobytes()
