"""Cameras, live frames, recordings index, segment files with ranges, clip export."""

from __future__ import annotations

import threading
from datetime import timedelta

import av
import numpy as np

from tests.api.helpers import Client, now
from vigil.api import ApiContext
from vigil.privacy.audit import AuditLog


def test_cameras_and_status(clients: dict[str, Client], ctx: ApiContext) -> None:
    v = clients["viewer"]
    cams = {c["name"]: c for c in v.get("/api/v1/cameras").json()}
    assert set(cams) == {"lobby", "yard"}
    assert cams["yard"]["state"] == "disabled" and not cams["yard"]["enabled"]
    assert cams["lobby"]["state"] == "stopped"  # from the status file the recorder left
    assert v.get("/api/v1/cameras/lobby").json()["name"] == "lobby"
    r = v.get("/api/v1/cameras/nope")
    assert r.status_code == 404 and "no camera named 'nope'" in r.json()["detail"]


def test_snapshot_and_mjpeg(clients: dict[str, Client], ctx: ApiContext) -> None:
    v = clients["viewer"]
    r = v.get("/api/v1/cameras/lobby/snapshot.jpg")
    assert r.status_code == 503 and "no live frame" in r.json()["detail"]
    img = np.zeros((48, 64, 3), np.uint8)
    ctx.live.publish_image("lobby", img)
    r = v.get("/api/v1/cameras/lobby/snapshot.jpg")
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert r.content[:2] == b"\xff\xd8"
    assert v.get("/api/v1/cameras/lobby").json()["live"] is True
    threading.Timer(1.0, ctx.live.close).start()  # ends the stream
    with v.stream("GET", "/api/v1/cameras/lobby/live.mjpeg") as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("multipart/x-mixed-replace")
        body = b"".join(r.iter_bytes())
    assert b"--vigilframe" in body and b"\xff\xd8" in body
    # Many snapshot requests, one audit record (per user, camera and 5 minutes).
    for _ in range(3):
        v.get("/api/v1/cameras/lobby/snapshot.jpg")
    views = AuditLog.from_config(ctx.config).query(ctx.db, actor="viewer", action="view_live")
    assert len(views) == 1 and views[0].camera == "lobby"


def test_recordings_index_and_segment_ranges(clients: dict[str, Client], ctx: ApiContext) -> None:
    v = clients["viewer"]
    r = v.get("/api/v1/cameras/lobby/recordings")
    assert r.status_code == 200, r.text
    rec = r.json()
    assert len(rec["segments"]) >= 2 and len(rec["spans"]) >= 1
    seg = rec["segments"][0]
    r = v.get(seg["url"], headers={"Range": "bytes=0-99"})
    assert r.status_code == 206 and len(r.content) == 100
    assert r.headers["content-range"].startswith("bytes 0-99/")
    full = v.get(seg["url"])
    assert full.status_code == 200 and full.content[4:8] == b"ftyp"
    assert v.get("/api/v1/cameras/lobby/segments/99999.mp4").status_code == 404
    # Time range validation.
    r = v.get("/api/v1/cameras/lobby/recordings", params={"start": "2026-01-01T00:00:00"})
    assert r.status_code == 422 and "timezone" in r.json()["detail"]
    r = v.get(
        "/api/v1/cameras/lobby/recordings",
        params={"start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"},
    )
    assert r.status_code == 422 and "after start" in r.json()["detail"]
    r = v.get(
        "/api/v1/cameras/lobby/recordings",
        params={"start": "2026-01-01T00:00:00Z", "end": "2026-03-01T00:00:00Z"},
    )
    assert r.status_code == 422
    assert (
        v.get("/api/v1/cameras/lobby/recordings", params={"start": "yesterday"}).status_code == 422
    )
    assert AuditLog.from_config(ctx.config).query(ctx.db, action="view_recording")


def test_export_clip(clients: dict[str, Client], ctx: ApiContext, tmp_path) -> None:
    op = clients["operator"]
    rec = op.get("/api/v1/cameras/lobby/recordings").json()
    start = rec["spans"][0]["start"]
    end = rec["spans"][0]["end"]
    body = {"start": start, "end": end, "reason": "incident 42: broken door"}
    r = op.post("/api/v1/cameras/lobby/export", json=body)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "video/mp4"
    assert "attachment" in r.headers["content-disposition"]
    out = tmp_path / "clip.mp4"
    out.write_bytes(r.content)
    with av.open(str(out)) as c:
        frames = sum(1 for _ in c.decode(video=0))
    assert frames >= 20
    assert not list((ctx.data_dir / "exports").glob("*.mp4"))  # temp file removed
    rec_ = AuditLog.from_config(ctx.config).query(ctx.db, action="export")
    assert rec_[0].reason == "incident 42: broken door" and rec_[0].actor == "operator"
    # Reason required; times need a zone; viewers cannot export; no footage is a 404.
    r = op.post("/api/v1/cameras/lobby/export", json={"start": start, "end": end})
    assert r.status_code == 422 and "reason" in r.json()["detail"]
    r = op.post("/api/v1/cameras/lobby/export", json={**body, "reason": "  "})
    assert r.status_code == 422
    r = op.post(
        "/api/v1/cameras/lobby/export",
        json={**body, "start": "2026-01-01T10:00:00", "end": "2026-01-01T10:01:00"},
    )
    assert r.status_code == 422
    assert clients["viewer"].post("/api/v1/cameras/lobby/export", json=body).status_code == 403
    old = now() - timedelta(days=3)
    r = op.post(
        "/api/v1/cameras/lobby/export",
        json={**body, "start": old.isoformat(), "end": (old + timedelta(minutes=1)).isoformat()},
    )
    assert r.status_code == 404 and r.json()["detail"]
    r = op.post("/api/v1/cameras/lobby/export", json={**body, "end": start})
    assert r.status_code == 422
    r = op.post(
        "/api/v1/cameras/lobby/export",
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 422
