"""API exports as jobs: POST queues one (audited with reason and redaction), GET shows its
state and progress, the download is a ZIP with the (by default redacted) clip and its signed
manifest, audited again and only for the requester or an admin; `vigil export verify`
(= `vigil privacy verify`) checks it. Failed jobs say why and leave no file."""

from __future__ import annotations

import hashlib
import io
import json
import time
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from tests.api.helpers import PASSWORD, Client, client_for, now
from vigil.api import ApiContext, accounts, create_app
from vigil.api.export_jobs import close_export_jobs, export_jobs
from vigil.camera.index import camera_segments, recordings_dir
from vigil.cli import run
from vigil.privacy.audit import AuditLog
from vigil.privacy.bundle import verify_export
from vigil.store.models.users import Role

URL = "/api/v1/cameras/lobby/export"
REASON = "incident 42: broken door"
MASK = [(0.0, 0.0), (0.5, 0.0), (0.5, 0.5), (0.0, 0.5)]  # top-left quarter


def _span(c: Client) -> dict[str, str]:
    rec = c.get("/api/v1/cameras/lobby/recordings").json()
    return {"start": rec["spans"][0]["start"], "end": rec["spans"][0]["end"]}


def run_export(c: Client, body: dict[str, Any], seen: list[float] | None = None) -> dict[str, Any]:
    """POST the export, then poll its job until it ends; `seen` collects its progress."""
    r = c.post(URL, json=body)
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["state"] in ("queued", "running") and job["download_url"] is None
    deadline = time.monotonic() + 60
    while job["state"] in ("queued", "running"):
        assert time.monotonic() < deadline, job
        time.sleep(0.05)
        job = c.get(job["url"]).json()
        if seen is not None:
            seen.append(job["progress"])
    return job


def _frames(data: bytes, tmp: Path) -> list[np.ndarray]:
    f = tmp / "x.mp4"
    f.write_bytes(data)
    with av.open(str(f)) as c:
        return [fr.to_ndarray(format="bgr24") for fr in c.decode(video=0)]


def _cli(*args: object) -> int:
    return run([str(a) for a in args])


def _tampered(src: Path, dst: Path, member: str) -> None:
    with zipfile.ZipFile(src) as z, zipfile.ZipFile(dst, "w") as out:
        for info in z.infolist():
            data = bytearray(z.read(info))
            if info.filename == member:
                data[len(data) // 2] ^= 0x01  # one bit of one byte
            out.writestr(info, bytes(data))


def test_redacted_export_job_is_signed_audited_and_verifiable(
    clients: dict[str, Client], ctx: ApiContext, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    ctx.config.cameras[0].privacy_masks = [MASK]
    op = clients["operator"]
    seen: list[float] = []
    job = run_export(op, {**_span(op), "reason": REASON}, seen)  # redact is the default
    assert job["state"] == "done" and job["error"] is None and job["progress"] == 1.0, job
    assert any(0 < x < 1 for x in seen) and seen == sorted(seen)  # from the redaction loop
    assert job["redacted"] is True and job["filename"].endswith("-redacted.zip")
    audit = AuditLog.from_config(ctx.config)
    [asked] = audit.query(ctx.db, action="export")  # recorded when the job was created
    assert asked.actor == "operator" and asked.reason == REASON and asked.camera == "lobby"
    assert asked.details["redacted"] is True and asked.details["subject"] is None
    assert asked.details["job"] == job["id"]
    r = op.get(job["download_url"])
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/zip"
    assert r.headers["x-clip-redacted"] == "true"
    assert f'filename="{job["filename"]}"' in r.headers["content-disposition"]
    assert len(r.content) == job["bytes"]
    bundle = tmp_path / "export.zip"
    bundle.write_bytes(r.content)
    with zipfile.ZipFile(bundle) as z:
        names = sorted(z.namelist())
        assert len(names) == 2 and names[1] == "manifest.json"
        clip_name = names[0]
        assert clip_name.endswith("-redacted.mp4")
        manifest_bytes = z.read("manifest.json")
        frames = _frames(z.read(clip_name), tmp_path)
    doc = json.loads(manifest_bytes)
    assert doc["kind"] == "redacted_clip" and doc["camera"] == "lobby"
    assert doc["reason"] == REASON and doc["created_by"] == "operator"
    assert doc["details"]["redacted"] is True and doc["files"][0]["name"] == clip_name
    # The privacy mask is black in every frame, the rest of the picture is not.
    assert len(frames) >= 20
    h, w = frames[0].shape[:2]
    assert max(float(f[: h // 2 - 4, : w // 2 - 4].mean()) for f in frames) < 3.0
    assert min(float(f[h // 2 + 4 :, w // 2 + 4 :].mean()) for f in frames) > 20.0
    checks = verify_export(bundle, data_dir=ctx.data_dir)
    assert [c.ok for c in checks] == [True] and checks[0].files_ok == 1
    # The download is audited with the manifest it vouched for.
    [got] = audit.query(ctx.db, action="view_recording")
    assert got.actor == "operator" and got.target_kind == "export" and got.target_id == job["id"]
    assert got.reason == REASON and got.details["redacted"] is True
    assert got.details["manifest_sha256"] == hashlib.sha256(manifest_bytes).hexdigest()
    # Only the requester or an admin: another operator is refused, a viewer cannot export.
    accounts.create_user(ctx.db, "operator2", PASSWORD, Role.operator, created_by="test")
    other = client_for(ctx, "operator2")
    assert other.get(job["url"]).status_code == 403
    assert other.get(job["download_url"]).status_code == 403
    assert clients["viewer"].get(job["download_url"]).status_code == 403
    assert clients["admin"].get(job["download_url"]).status_code == 200
    assert len(audit.query(ctx.db, action="view_recording")) == 2  # operator, admin
    # One flipped byte of the clip: the library and both CLI names say so (exit 4).
    bad = tmp_path / "tampered.zip"
    _tampered(bundle, bad, clip_name)
    (check,) = verify_export(bad, data_dir=ctx.data_dir)
    assert not check.ok and any("SHA-256 differs" in p for p in check.problems)
    assert _cli("--data-dir", ctx.data_dir, "export", "verify", bundle) == 0
    assert "intact" in capsys.readouterr().out
    assert _cli("--data-dir", ctx.data_dir, "export", "verify", bad) == 4
    assert "SHA-256 differs" in capsys.readouterr().out
    assert _cli("--data-dir", ctx.data_dir, "privacy", "verify", bad, "--json") == 4
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] is False and out["manifests"][0]["signature_ok"] is True
    # A changed manifest breaks its signature; a file slipped into the ZIP is reported.
    forged = tmp_path / "forged.zip"
    _tampered(bundle, forged, "manifest.json")
    assert _cli("--data-dir", ctx.data_dir, "export", "verify", forged) == 4
    extra = tmp_path / "extra.zip"
    extra.write_bytes(bundle.read_bytes())
    with zipfile.ZipFile(extra, "a") as z:
        z.writestr("note.txt", "added later")
    (check,) = verify_export(extra, data_dir=ctx.data_dir)
    assert not check.ok and "note.txt" in check.problems[0]
    # A ZIP gone while its job is still known (swept meanwhile): 410, not a 500.
    zip_path = next((export_jobs(ctx).root / job["id"]).rglob("*.zip"))
    kept = zip_path.read_bytes()
    zip_path.unlink()
    r = op.get(job["download_url"])
    assert r.status_code == 410 and "expired" in r.json()["detail"]
    zip_path.write_bytes(kept)
    # After the keep time the ZIP is deleted and the job forgotten.
    jobs_dir = export_jobs(ctx).root
    assert (jobs_dir / job["id"]).is_dir()
    assert export_jobs(ctx).sweep(datetime.now(UTC) + timedelta(hours=24, minutes=1)) == 1
    assert not (jobs_dir / job["id"]).exists()
    r = op.get(job["download_url"])
    assert r.status_code == 404 and "deleted after 24 h" in r.json()["detail"]


def test_failed_exports_refusals_and_restart_sweep(
    clients: dict[str, Client], ctx: ApiContext
) -> None:
    op = clients["operator"]
    body = {**_span(op), "reason": "police request 7: original", "redact": False}
    job = run_export(op, body)
    assert job["state"] == "done" and job["redacted"] is False
    with zipfile.ZipFile(io.BytesIO(op.get(job["download_url"]).content)) as z:
        doc = json.loads(z.read("manifest.json"))
    assert doc["kind"] == "clip" and doc["details"]["redacted"] is False
    rec = AuditLog.from_config(ctx.config).query(ctx.db, action="export")[0]
    assert rec.details["redacted"] is False and rec.reason == "police request 7: original"
    # Refusals: a subject needs redaction, an unknown person, no reason, a viewer, bad ranges.
    r = op.post(URL, json={**body, "subject_person_id": 1})
    assert r.status_code == 422 and "redacted" in r.json()["detail"]
    r = op.post(URL, json={**body, "redact": True, "subject_person_id": 999})
    assert r.status_code == 404 and "999" in r.json()["detail"]
    r = op.post(URL, json={**_span(op)})
    assert r.status_code == 422 and "reason" in r.json()["detail"]
    assert op.post(URL, json={**body, "reason": "   "}).status_code == 422
    naive = {"start": "2026-01-01T10:00:00", "end": "2026-01-01T10:01:00"}
    assert op.post(URL, json={**body, **naive}).status_code == 422
    assert op.post(URL, json={**body, "end": body["start"]}).status_code == 422
    bad_json = op.post(URL, content=b"{no", headers={"Content-Type": "application/json"})
    assert bad_json.status_code == 422
    assert clients["viewer"].post(URL, json=body).status_code == 403
    assert op.get("/api/v1/exports/nope").status_code == 404
    assert len(AuditLog.from_config(ctx.config).query(ctx.db, action="export")) == 1
    # A range without footage fails with the reason; nothing to download.
    old = now() - timedelta(days=3)
    span = {"start": old.isoformat(), "end": (old + timedelta(minutes=1)).isoformat()}
    failed = run_export(op, {**body, **span})
    assert failed["state"] == "failed" and "no footage of camera 'lobby'" in failed["error"]
    r = op.get(f"{failed['url']}/download")
    assert r.status_code == 409 and "no footage" in r.json()["detail"]
    # A broken segment fails the job too, and nothing half-written stays behind.
    root = recordings_dir(ctx.data_dir)
    for seg in camera_segments(ctx.db, "lobby"):
        (root / seg.path).write_bytes(b"\0not a video" * 100)
    broken = run_export(op, {**body, "redact": True})
    assert broken["state"] == "failed" and "cannot be read" in broken["error"], broken
    assert str(ctx.data_dir) not in broken["error"]
    jobs_dir = export_jobs(ctx).root
    assert sorted(p.name for p in jobs_dir.iterdir()) == [job["id"]]  # only the finished one
    # A restart forgets the jobs and sweeps their files (and stale temporary ones).
    close_export_jobs(ctx)
    orphan = jobs_dir / "crashed" / ".clip.mp4.part"
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"half")
    with Client(create_app(ctx, web=False)):  # runs the app's start-up
        assert not orphan.exists() and not (jobs_dir / job["id"]).exists()
