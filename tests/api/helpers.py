"""Shared by the API and browser tests: a site with recorded footage and logged-in clients."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
from fastapi.testclient import TestClient

from tests.camera.conftest import make_h264
from vigil.api import ApiContext, accounts, create_app
from vigil.camera.index import camera_segments, coverage
from vigil.camera.recorder import RecorderOptions, RecordingService
from vigil.config import VigilConfig
from vigil.faces.engine import FaceEngine
from vigil.store.db import Database
from vigil.store.models.users import Role

PASSWORD = "a long test password"
ROLES = ("admin", "operator", "viewer", "auditor")


@dataclass
class Footage:
    data_dir: Path
    video: Path  # H.264 source file the camera "lobby" loops
    start: datetime
    end: datetime


def record_footage(root: Path, vtest: Path, seconds: float = 5.0) -> Footage:
    """Record `seconds` of a looped H.264 file as camera `lobby`, in 2 s fMP4 segments."""
    data_dir = root / "var"
    root.mkdir(parents=True, exist_ok=True)
    video = make_h264(vtest, root / "lobby.mp4", 4, fps=10, gop=10)
    db = Database(f"sqlite:///{data_dir / 'vigil.db'}")
    cfg = site_config(data_dir, video)
    svc = RecordingService(cfg.cameras, data_dir, db, RecorderOptions(status_interval_s=0.5))
    svc.start()
    try:
        deadline = time.monotonic() + seconds + 10
        while time.monotonic() < deadline:
            segs = camera_segments(db, "lobby")
            done = [s for s in segs if s.complete]
            if len(done) >= 2 and (segs[-1].end - segs[0].start) >= timedelta(seconds=seconds):
                break
            time.sleep(0.2)
    finally:
        svc.stop()
    spans = coverage(camera_segments(db, "lobby"), tolerance_s=0.3).spans
    db.close()
    assert spans, "nothing was recorded"
    return Footage(data_dir, video, spans[0][0], spans[-1][1])


def site_yaml(data_dir: Path, video: Path) -> str:
    """The test site's vigil.yaml, with an operator's comments (saves must keep them)."""
    return f"""# test site (operator's comment)
site:
  name: test-site  # shown in the UI
storage:
  data_dir: {json.dumps(str(data_dir))}
cameras:
  # the entrance
  - name: lobby
    url: {json.dumps(str(video))}
    loop: true
    segment_seconds: 2  # short segments for tests
  - name: yard
    url: {json.dumps(str(video))}
    enabled: false  # kept but not run
"""


def site_config(data_dir: Path, video: Path) -> VigilConfig:
    return VigilConfig.model_validate(yaml.safe_load(site_yaml(data_dir, video)))


def make_context(data_dir: Path, video: Path, engine: FaceEngine) -> ApiContext:
    """The site's context, with its vigil.yaml written to `data_dir/vigil.yaml` (so zones and
    masks can be saved)."""
    cfg = site_config(data_dir, video)
    config_path = data_dir / "vigil.yaml"
    config_path.parent.mkdir(parents=True, exist_ok=True)
    config_path.write_text(site_yaml(data_dir, video), encoding="utf-8")
    db = Database(cfg.storage.resolved_database_url())
    return ApiContext(cfg, db, engine=engine, config_path=config_path)


def add_users(ctx: ApiContext) -> None:
    if not accounts.admin_exists(ctx.db):
        accounts.create_user(ctx.db, "admin", PASSWORD, Role.admin, created_by="test")
    for role in ROLES[1:]:
        accounts.create_user(ctx.db, role, PASSWORD, Role(role), created_by="test")


class Client(TestClient):
    """A TestClient that sends the CSRF token it got at login on every request."""

    csrf: str = ""

    def login(self, username: str, password: str = PASSWORD) -> Client:
        r = self.post("/api/v1/auth/login", json={"username": username, "password": password})
        assert r.status_code == 200, r.text
        self.csrf = r.json()["csrf_token"]
        self.headers["X-CSRF-Token"] = self.csrf
        return self


def client_for(ctx: ApiContext, role: str | None = None) -> Client:
    c = Client(create_app(ctx, web=False))
    return c.login(role) if role else c


def now() -> datetime:
    return datetime.now(UTC)
