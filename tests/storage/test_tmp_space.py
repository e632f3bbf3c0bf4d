"""Temporary files live under <data_dir>/tmp with a cap, never in the system's temporary folder
(issue 12: an upload spooled to /tmp on the recordings disk made retention delete 22 of 22
segments)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi import UploadFile
from fastapi.testclient import TestClient

from tests.camera.conftest import add_footage
from tests.storage.conftest import fill
from vigil.api import ApiContext, accounts, create_app
from vigil.config import VigilConfig
from vigil.storage import TmpFull, TmpSpace
from vigil.store.db import Database
from vigil.store.models.users import Role

PASSWORD = "a long test password"


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_tmp_space_folder_cap_install_and_clean(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    tmp = TmpSpace(data_dir, max_bytes=1_000_000)
    mine = tmp.folder()
    assert mine == data_dir / "tmp" / f"p{os.getpid()}" and (mine.stat().st_mode & 0o777) == 0o700
    before = tempfile.gettempdir()
    previous = tmp.install()
    try:
        assert tempfile.gettempdir() == str(mine)
        with tempfile.NamedTemporaryFile() as f:  # what libraries do lands here
            assert Path(f.name).parent == mine
        with tmp.temporary_dir("job-") as job:
            fill(job / "clip.mp4", 700_000)
            assert tmp.used() >= 700_000
            with pytest.raises(TmpFull, match="no temporary space for this upload"):
                tmp.check(400_000, "this upload")
            with pytest.raises(TmpFull, match=r"storage\.tmp_max_gb"):
                tmp.mkdtemp("another-", 400_000)
            tmp.check(200_000)  # still fits
        assert not job.exists() and tmp.used() < 100_000
    finally:
        tmp.uninstall(previous)
    assert tempfile.gettempdir() == before
    # leftovers: a dead process's folder and an old stray file go; live ones stay
    dead = tmp.root / f"p{_dead_pid()}"
    (dead / "upload").mkdir(parents=True)
    fill(dead / "upload" / "part", 10_000)
    stray, fresh = tmp.root / "old.part", tmp.root / "new.part"
    fill(stray, 100)
    fill(fresh, 100)
    os.utime(stray, (time.time() - 7200, time.time() - 7200))
    (mine / "in-use").write_bytes(b"x")
    assert tmp.clean() == 2
    assert not dead.exists() and not stray.exists() and fresh.exists()
    assert (mine / "in-use").exists()


def test_tmp_never_takes_the_recordings_free_space(small_fs) -> None:
    fs = small_fs("96m")
    data_dir = fs / "var"
    (data_dir / "recordings").mkdir(parents=True)
    keep = shutil.disk_usage(fs).free - 5_000_000
    tmp = TmpSpace(data_dir, max_bytes=10**9, keep_free_bytes=keep)
    tmp.check(4_000_000)
    with pytest.raises(TmpFull, match="stay free for recording"):
        tmp.check(6_000_000, "this export")


def _site(tmp_path: Path, clip: Path, tmp_max_gb: float) -> ApiContext:
    data_dir = tmp_path / "var"
    cfg = VigilConfig.model_validate(
        {
            "storage": {"data_dir": str(data_dir), "tmp_max_gb": tmp_max_gb},
            "cameras": [{"name": "lobby", "url": str(clip)}],
        }
    )
    data_dir.mkdir(parents=True)
    db = Database(cfg.storage.resolved_database_url())
    accounts.create_user(db, "admin", PASSWORD, Role.admin, created_by="test")
    return ApiContext(cfg, db)


def _login(c: TestClient) -> None:
    r = c.post("/api/v1/auth/login", json={"username": "admin", "password": PASSWORD})
    assert r.status_code == 200, r.text
    c.headers["X-CSRF-Token"] = r.json()["csrf_token"]


def test_api_spools_uploads_under_data_dir_and_refuses_past_the_cap(
    tmp_path: Path, clip: Path
) -> None:
    ctx = _site(tmp_path, clip, tmp_max_gb=0.003)  # 3 MB
    app = create_app(ctx, web=False)
    where: list[str] = []

    @app.post("/spool-probe")
    async def probe(f: UploadFile) -> dict[str, int]:
        # a part over 1 MB is spooled to a file: where did the parser put it?
        where.append(os.readlink(f"/proc/self/fd/{f.file.fileno()}"))
        return {"size": f.size or 0}

    stale = ctx.data_dir / "tmp" / f"p{_dead_pid()}"
    stale.mkdir(parents=True)
    with TestClient(app) as c:
        assert not stale.exists()  # leftovers cleaned at start
        _login(c)  # uploads are read only from a logged-in caller
        r = c.post("/spool-probe", files={"f": ("a.bin", b"\1" * 1_500_000)})
        assert r.status_code == 200, r.text
        assert where[0].startswith(str(ctx.data_dir / "tmp" / f"p{os.getpid()}")), where
        # past the cap: refused before a byte is read, with a clear reason
        r = c.post("/spool-probe", files={"f": ("b.bin", b"\2" * 3_500_000)})
        assert r.status_code == 507 and "no temporary space for this upload" in r.json()["detail"]
        r = c.post("/api/v1/search/photo", files={"photo": ("p.jpg", b"\3" * 3_500_000)})
        assert r.status_code == 507
        assert c.get("/api/v1/storage").json()["tmp_max_bytes"] == 3_000_000
    ctx.db.close()


def test_an_export_that_would_pass_the_cap_is_refused(tmp_path: Path, clip: Path) -> None:
    size = clip.stat().st_size
    ctx = _site(tmp_path, clip, tmp_max_gb=3 * size / 1e9)  # room for 1.5 segments' exports
    now = datetime.now(UTC).replace(microsecond=0)
    add_footage(ctx.db, ctx.data_dir, clip, "lobby", now - timedelta(minutes=10), 4, 60)
    with TestClient(create_app(ctx, web=False)) as c:
        _login(c)
        url = "/api/v1/cameras/lobby/export"
        body = {"reason": "incident 9", "redact": False}
        span = {"start": (now - timedelta(minutes=10)).isoformat()}
        r = c.post(url, json={**body, **span, "end": (now - timedelta(minutes=6)).isoformat()})
        assert r.status_code == 507, r.text
        assert "no temporary space for this export" in r.json()["detail"]
        r = c.post(url, json={**body, **span, "end": (now - timedelta(minutes=9)).isoformat()})
        assert r.status_code == 202, r.text
        job = r.json()
        for _ in range(100):
            job = c.get(job["url"]).json()
            if job["state"] in ("done", "failed"):
                break
            time.sleep(0.1)
        assert job["state"] == "done", job
        assert list((ctx.data_dir / "tmp" / f"p{os.getpid()}" / "exports").iterdir())
    ctx.db.close()
