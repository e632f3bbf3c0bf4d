"""API exports: a ZIP with the (by default redacted) clip and its signed manifest, audited
with reason and redaction; `vigil export verify` (= `vigil privacy verify`) checks it."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import timedelta
from pathlib import Path

import av
import numpy as np
import pytest

from tests.api.helpers import Client, now
from vigil.api import ApiContext
from vigil.cli import run
from vigil.privacy.audit import AuditLog
from vigil.privacy.bundle import verify_export

URL = "/api/v1/cameras/lobby/export"
REASON = "incident 42: broken door"
MASK = [(0.0, 0.0), (0.5, 0.0), (0.5, 0.5), (0.0, 0.5)]  # top-left quarter


def _span(c: Client) -> dict[str, str]:
    rec = c.get("/api/v1/cameras/lobby/recordings").json()
    return {"start": rec["spans"][0]["start"], "end": rec["spans"][0]["end"]}


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


def test_redacted_export_is_signed_audited_and_verifiable(
    clients: dict[str, Client], ctx: ApiContext, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    ctx.config.cameras[0].privacy_masks = [MASK]
    op = clients["operator"]
    r = op.post(URL, json={**_span(op), "reason": REASON})  # redact is the default
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/zip"
    assert r.headers["x-clip-redacted"] == "true"
    assert 'filename="lobby-' in r.headers["content-disposition"]
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
    # The manifest verifies; nothing stays behind in the exports folder.
    checks = verify_export(bundle, data_dir=ctx.data_dir)
    assert [c.ok for c in checks] == [True] and checks[0].files_ok == 1
    assert not any((ctx.data_dir / "exports").iterdir())
    # The audit record names the reason, the redaction and the manifest it vouched for.
    rec = AuditLog.from_config(ctx.config).query(ctx.db, action="export")[0]
    assert rec.actor == "operator" and rec.reason == REASON and rec.camera == "lobby"
    assert rec.details["redacted"] is True and rec.details["subject"] is None
    assert rec.details["manifest_sha256"] == hashlib.sha256(manifest_bytes).hexdigest()
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


def test_unredacted_export_and_refusals(
    clients: dict[str, Client], ctx: ApiContext, tmp_path: Path
) -> None:
    op = clients["operator"]
    body = {**_span(op), "reason": "police request 7: original", "redact": False}
    r = op.post(URL, json=body)
    assert r.status_code == 200, r.text
    assert r.headers["x-clip-redacted"] == "false"
    with zipfile.ZipFile(io.BytesIO(r.content)) as z:
        doc = json.loads(z.read("manifest.json"))
    assert doc["kind"] == "clip" and doc["details"]["redacted"] is False
    rec = AuditLog.from_config(ctx.config).query(ctx.db, action="export")[0]
    assert rec.details["redacted"] is False and rec.reason == "police request 7: original"
    # Refusals: a subject needs redaction, an unknown person, no reason, a viewer, no footage.
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
    old = now() - timedelta(days=3)
    r = op.post(
        URL,
        json={**body, "start": old.isoformat(), "end": (old + timedelta(minutes=1)).isoformat()},
    )
    assert r.status_code == 404 and r.json()["detail"]
    assert len(AuditLog.from_config(ctx.config).query(ctx.db, action="export")) == 1
    assert not any((ctx.data_dir / "exports").iterdir())
