"""One export core, three entry points (issue 15): `vigil export`, the API's export jobs and
the hub's `clip` verb at the site. Each exports redacted unless the original is asked for, and
each writes the same audit record (action `export`, who, why, camera, range, redacted)."""

from __future__ import annotations

import io
import json
import shutil
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.api.helpers import Client
from vigil.api import ApiContext
from vigil.cli import run
from vigil.exports.core import ExportRequest
from vigil.faces.engine import FaceEngine
from vigil.privacy.audit import AuditLog
from vigil.store.models import AuditRecord
from vigil.sync import clips
from vigil.sync.commands import CommandContext, handle

REASON = "incident 15: one export core"
CORE_KEYS = {"start", "end", "exact", "redacted", "subject", "via"}


def _span(ctx: ApiContext) -> tuple[str, str]:
    """Two seconds of the recorded footage (short: redaction runs in the test)."""
    from vigil.camera.index import camera_segments

    first = camera_segments(ctx.db, "lobby")[0]
    return first.start.isoformat(), first.end.isoformat()


def _records(ctx: ApiContext) -> list[AuditRecord]:
    """Export records, oldest first."""
    return AuditLog.from_config(ctx.config).query(ctx.db, action="export")[::-1]


def _audited_alike(rec: AuditRecord, actor: str, redacted: bool, via: str, span: tuple) -> None:
    """The one shape of an export's audit record, whichever entry point wrote it."""
    assert rec.action == "export" and rec.actor == actor and rec.reason == REASON
    assert rec.camera == "lobby" and (rec.target_kind, rec.target_id) == ("camera", "lobby")
    assert set(rec.details) >= CORE_KEYS, rec.details
    assert rec.details["redacted"] is redacted and rec.details["via"] == via
    assert rec.details["subject"] is None and rec.details["exact"] is False
    assert (rec.details["start"], rec.details["end"]) == span


def test_the_request_defaults_to_redacted() -> None:
    from datetime import UTC, datetime, timedelta

    t = datetime(2026, 1, 1, tzinfo=UTC)
    req = ExportRequest("lobby", t, t + timedelta(seconds=5), actor="a", reason=REASON)
    assert req.redact is True and req.checked().audit_details()["redacted"] is True
    with pytest.raises(Exception, match="subject"):
        ExportRequest("lobby", t, t + timedelta(seconds=5), actor="a", reason=REASON,
                      redact=False, subject="Ada").checked()  # fmt: skip


def test_cli_exports_redacted_unless_original_is_asked(
    ctx: ApiContext, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    t0, t1 = _span(ctx)

    def export(out: Path, *flags: str) -> dict[str, Any]:
        args = ["--config", str(ctx.config_path), "export", "lobby", "--from", t0, "--to", t1]
        code = run([*args, "-o", str(out), "-r", REASON, "--json", *flags])
        got = capsys.readouterr()
        assert code == 0, got.err
        return json.loads(got.out)

    red = export(tmp_path / "red.mp4")  # no flag: redacted
    assert red["redacted"] is True and Path(red["path"]) == tmp_path / "red.mp4"
    doc = json.loads(Path(red["manifest"]).read_text())
    assert doc["kind"] == "redacted_clip" and doc["details"]["redacted"] is True
    assert doc["details"]["via"] == "cli" and doc["footage"]["complete"] is not None
    assert not list(tmp_path.glob(".*"))  # the cut original does not outlive the export
    for flag in ("--original", "--no-redact"):
        plain = export(tmp_path / f"plain{flag}.mp4", flag)
        assert plain["redacted"] is False
        assert json.loads(Path(plain["manifest"]).read_text())["kind"] == "clip"
    recs = _records(ctx)
    assert [r.details["redacted"] for r in recs] == [True, False, False]
    for rec, redacted in zip(recs, (True, False, False), strict=True):
        _audited_alike(rec, recs[0].actor, redacted, "cli", (t0, t1))
        assert rec.source == "cli" and rec.details["file"].endswith(".mp4")
    # a subject is for redacted exports only: refused before anything is audited or written
    args = ["--config", str(ctx.config_path), "export", "lobby", "--from", t0, "--to", t1]
    code = run([*args, "-o", str(tmp_path / "x.mp4"), "-r", REASON, "--original", "--subject", "A"])
    assert code != 0 and "subject" in capsys.readouterr().err
    assert len(_records(ctx)) == 3 and not (tmp_path / "x.mp4").exists()


def _run_job(c: Client, body: dict[str, Any]) -> dict[str, Any]:
    r = c.post("/api/v1/cameras/lobby/export", json=body)
    assert r.status_code == 202, r.text
    job = r.json()
    deadline = time.monotonic() + 60
    while job["state"] in ("queued", "running"):
        assert time.monotonic() < deadline, job
        time.sleep(0.05)
        job = c.get(job["url"]).json()
    assert job["state"] == "done", job
    return job


def test_api_exports_redacted_unless_redact_false(
    ctx: ApiContext, clients: dict[str, Client]
) -> None:
    op = clients["operator"]
    t0, t1 = _span(ctx)
    body = {"start": t0, "end": t1, "reason": REASON}
    red = _run_job(op, body)  # no `redact`: redacted
    plain = _run_job(op, {**body, "redact": False})
    assert red["redacted"] is True and plain["redacted"] is False
    for job, kind in ((red, "redacted_clip"), (plain, "clip")):
        r = op.get(job["download_url"])
        assert r.headers["x-clip-redacted"] == str(kind == "redacted_clip").lower()
        with zipfile.ZipFile(io.BytesIO(r.content)) as z:
            doc = json.loads(z.read("manifest.json"))
        assert doc["kind"] == kind and doc["details"]["via"] == "api"
    recs = _records(ctx)
    assert len(recs) == 2
    for rec, job in zip(recs, (red, plain), strict=True):
        _audited_alike(rec, "operator", job["redacted"], "api", (t0, t1))
        assert rec.details["job"] == job["id"]


def test_hub_clip_verb_exports_redacted_unless_redact_false(
    ctx: ApiContext, engine: FaceEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The site's side of `vigil.<site>.cmd.clip`, through the command dispatcher; the object
    store is a folder here (tests/sync/test_clips.py runs it with real nats-servers)."""
    store = tmp_path / "object-store"
    store.mkdir()

    async def put(url: str, name: str, path: Path) -> None:
        shutil.copy(path, store / name)

    monkeypatch.setattr(clips, "_put_object", put)
    site = CommandContext(ctx.db, ctx.config, ctx.data_dir)
    clips.use_face_engine(site, engine)
    t0, t1 = _span(ctx)
    body = {"camera": "lobby", "start": t0, "end": t1, "reason": REASON, "who": "alice"}
    red = handle(site, "clip", body)  # no `redact`: redacted
    plain = handle(site, "clip", {**body, "redact": False})
    assert red["ok"] and red["redacted"] is True, red
    assert plain["ok"] and plain["redacted"] is False, plain
    for reply, kind in ((red, "redacted_clip"), (plain, "clip")):
        with zipfile.ZipFile(store / reply["object"]) as z:
            doc = json.loads(z.read("manifest.json"))
        assert doc["kind"] == kind and doc["details"]["via"] == "hub"
        assert doc["created_by"] == "alice via hub"
    recs = _records(ctx)
    assert len(recs) == 2
    for rec, reply in zip(recs, (red, plain), strict=True):
        _audited_alike(rec, "alice via hub", reply["redacted"], "hub", (t0, t1))
        assert rec.details["object"] == reply["object"] and rec.source == "hub"
