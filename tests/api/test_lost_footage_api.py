"""Lost footage through the API (issue 12): a damaged and a deleted segment show in camera
status and on the time line until an admin acknowledges them (audited), and an export job
over them (redacted, the default, across the hole the deleted file leaves) says so."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from tests.api.helpers import Client
from tests.api.test_export_bundle import run_export
from vigil.api import ApiContext
from vigil.camera.footage_retention import run_retention
from vigil.camera.index import camera_segments, recordings_dir
from vigil.camera.scrub import scrub
from vigil.privacy.audit import AuditLog

REASON = "incident 12: the gate"


def test_lost_footage_shows_until_acknowledged_and_exports_say_so(
    clients: dict[str, Client], ctx: ApiContext, tmp_path: Path
) -> None:
    segs = [s for s in camera_segments(ctx.db, "lobby") if s.complete]
    assert len(segs) >= 3
    root = recordings_dir(ctx.data_dir)
    damaged, deleted = segs[0], segs[1]
    path = root / damaged.path
    data = bytearray(path.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 2048] = bytes(2048)
    path.write_bytes(bytes(data))
    (root / deleted.path).unlink()
    op, admin = clients["operator"], clients["admin"]
    cam = op.get("/api/v1/cameras/lobby").json()
    assert cam["damaged_segments"] == 0 and cam["missing_segments"] == 0

    assert scrub(ctx.db, ctx.data_dir, rate=None).damaged == [damaged.path]
    run_retention(ctx.db, ctx.data_dir, ctx.config.cameras, ctx.config.recording)
    cam = op.get("/api/v1/cameras/lobby").json()
    assert cam["damaged_segments"] == 1 and cam["missing_segments"] == 1
    lost = op.get("/api/v1/cameras/lobby/activity").json()["lost"]
    assert {(x["kind"], x["path"]) for x in lost} == {
        ("damaged", damaged.path),
        ("missing", deleted.path),
    }

    # A redacted export (the default) over both: done, and it says what is not there.
    body = {
        "start": segs[0].start.isoformat(),
        "end": segs[2].end.isoformat(),
        "reason": REASON,
    }
    job = run_export(op, body)
    assert job["state"] == "done", job
    f = job["footage"]
    assert f["complete"] is False and f["footage_s"] < f["requested_s"]
    assert [d["segment"] for d in f["damaged_segments"]] == [damaged.path]
    assert [d["segment"] for d in f["missing_segments"]] == [deleted.path]
    assert f["gaps"] and any("missing: segment" in w for w in f["warnings"])
    r = op.get(job["download_url"])
    assert r.headers["x-clip-complete"] == "false"
    bundle = tmp_path / "b.zip"
    bundle.write_bytes(r.content)
    with zipfile.ZipFile(bundle) as z:
        doc = json.loads(z.read("manifest.json"))
    assert doc["kind"] == "redacted_clip" and doc["footage"]["complete"] is False
    assert doc["footage"]["missing_segments"][0]["segment"] == deleted.path

    # Only an admin acknowledges, with a note; it is audited and leaves status.
    ack = "/api/v1/cameras/lobby/segment-problems/ack"
    assert op.post(ack, json={"note": "seen"}).status_code == 403
    assert admin.post(ack, json={}).status_code == 422
    r = admin.post(ack, json={"note": "disk replaced, ticket 5"})
    assert r.status_code == 200, r.text
    assert len(r.json()["acknowledged"]) == 2
    cam = op.get("/api/v1/cameras/lobby").json()
    assert cam["damaged_segments"] == 0 and cam["missing_segments"] == 0
    assert op.get("/api/v1/cameras/lobby/activity").json()["lost"] == []
    every = op.get("/api/v1/cameras/lobby/segment-problems?include_acknowledged=true").json()
    assert {p["acknowledged_by"] for p in every} == {"admin"}
    [rec] = AuditLog.from_config(ctx.config).query(ctx.db, action="ack_footage")
    assert rec.actor == "admin" and rec.reason == "disk replaced, ticket 5"
    assert len(rec.details["problems"]) == 2
