"""What the API needs from the running node: config, database, faces, live frames, audit."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.orm import Session

from vigil.api.auditing import AuditEntry, AuditSink, ChainAudit
from vigil.api.live import LiveFrames
from vigil.api.security import LoginLimiter
from vigil.api.setup_code import SetupCode
from vigil.camera.live_feed import LiveFeeds
from vigil.camera.status import CameraStatus, read_status
from vigil.config import CameraConfig, VigilConfig
from vigil.faces.calibration import Calibration, load_calibration
from vigil.faces.engine import FaceEngine
from vigil.faces.gallery import Gallery, MatcherCache
from vigil.faces.matcher import Matcher
from vigil.store.db import Database


@dataclass
class ApiContext:
    """Everything `create_app` serves from. `vigil serve` builds one and shares its parts.

    - `engine`: a FaceEngine, or a factory called on first use (models load lazily).
    - `live`: the hub the analysis loop publishes frames to (MJPEG).
    - `feeds`: each camera's live H.264 for browsers (MSE); `vigil serve` hands it to the
      recorders, which feed it; cameras nobody records here get a reader while watched.
    - `statuses`: live recorder statuses (e.g. `RecordingService.statuses`); default: the
      status file the recorder writes.
    - `audit`: where audit entries go; default: the site's audit chain.
    - `config_path`: the vigil.yaml that `config` came from, when there is one: zones and masks
      saved from the UI are written there (`vigil.config_edit`).
    - `on_camera_change`: told the camera's new config after such a save (`vigil serve`: the
      running analysis picks up the new masks and zones).
    """

    config: VigilConfig
    db: Database
    engine: FaceEngine | Callable[[], FaceEngine] | None = None
    live: LiveFrames = field(default_factory=LiveFrames)
    feeds: LiveFeeds = field(default_factory=LiveFeeds)
    statuses: Callable[[], list[CameraStatus]] | None = None
    audit: AuditSink | None = None
    config_path: Path | None = None
    on_camera_change: Callable[[CameraConfig], None] | None = None
    _engine_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _matchers: MatcherCache | None = field(default=None, repr=False)
    limiter: LoginLimiter = field(init=False, repr=False)
    setup_code: SetupCode = field(init=False, repr=False)  # issued by `vigil serve`

    def __post_init__(self) -> None:
        a = self.config.api
        self.limiter = LoginLimiter(
            a.login_attempts,
            a.login_attempts_per_client,
            a.login_window_s,
            a.login_attempts_per_user,
        )
        self.setup_code = SetupCode(self.data_dir)
        if self.audit is None:
            self.audit = ChainAudit(self.config, self.db)

    @property
    def data_dir(self) -> Path:
        return Path(self.config.storage.data_dir)

    def face_engine(self) -> FaceEngine:
        with self._engine_lock:
            if self.engine is None:
                self.engine = FaceEngine(self.config.faces)
            elif not isinstance(self.engine, FaceEngine):
                self.engine = self.engine()
            return self.engine

    def gallery(self) -> Gallery:
        return Gallery(self.db, self.face_engine().model_name, self.calibration())

    def calibration(self) -> Calibration:
        return load_calibration(
            self.data_dir, self.face_engine().model_name, self.config.faces.match_threshold
        )

    def matcher(self) -> Matcher:
        """A matcher over the gallery, rebuilt only when templates were added or removed."""
        if self._matchers is None:  # two requests racing here build two caches: harmless
            self._matchers = MatcherCache(self.gallery(), self.calibration(), check_every_s=0)
        return self._matchers.get()

    def camera_statuses(self) -> dict[str, CameraStatus]:
        if self.statuses is not None:
            items = self.statuses()
        else:
            snap = read_status(self.data_dir)
            items = snap.cameras if snap else []
        return {c.name: c for c in items}

    def record(self, entry: AuditEntry, session: Session | None = None) -> None:
        """Audit `entry`. With `session`, the chain record joins that transaction, so a change
        and its record are stored together or not at all (other sinks just get the entry)."""
        assert self.audit is not None
        if session is not None and isinstance(self.audit, ChainAudit):
            self.audit.record_in(session, entry)
        else:
            self.audit(entry)
