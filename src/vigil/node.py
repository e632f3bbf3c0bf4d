"""The edge node: everything `vigil serve` runs for one site, started and stopped together.

Recording (one thread per camera), retention (on start and on a schedule), the scrub that
re-checks the checksums of closed segments (rate limited, `camera/scrub.py`), live analysis
(one thread per camera) whose events go to the event store, notification delivery from the
outbox with camera status and each zone's people count kept on MQTT, the purge of
unknown-face templates past their retention period, and, when `sync.enabled`, publishing to
the hub (`vigil.sync.edge_agent`).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from vigil.camera.recorder import RecorderOptions, RecordingService
from vigil.camera.retention import RetentionReport, RetentionScheduler, storage_status
from vigil.camera.scrub import ScrubScheduler
from vigil.config import VigilConfig
from vigil.events.review import close_idle
from vigil.events.store import Routing, store_draft
from vigil.faces.calibration import load_calibration
from vigil.faces.engine import FaceEngine
from vigil.faces.gallery import Gallery
from vigil.faces.sightings import add_unknown, purge_unknown
from vigil.notify.dispatcher import Dispatcher
from vigil.pipeline.analyzer import EventDraft
from vigil.pipeline.service import AnalysisService, FrameListener
from vigil.privacy import retention as privacy_retention
from vigil.storage import TmpSpace
from vigil.store.db import Database
from vigil.sync.edge_agent import EdgeSync

log = logging.getLogger(__name__)


@dataclass
class EdgeNode:
    config: VigilConfig
    db: Database
    engine: FaceEngine
    on_frame: FrameListener | None = None  # live view frames (privacy masks already applied)
    recording: RecordingService | None = field(default=None, init=False)
    retention: RetentionScheduler | None = field(default=None, init=False)
    scrub: ScrubScheduler | None = field(default=None, init=False)
    analysis: AnalysisService | None = field(default=None, init=False)
    dispatcher: Dispatcher | None = field(default=None, init=False)
    sync: EdgeSync | None = field(default=None, init=False)
    _stop: threading.Event = field(default_factory=threading.Event, init=False)
    _housekeeper: threading.Thread | None = field(default=None, init=False)
    _tmp: TmpSpace | None = field(default=None, init=False)
    _tmp_previous: str | None = field(default=None, init=False)

    @property
    def data_dir(self) -> Path:
        return self.config.storage.data_dir

    def store_event(self, draft: EventDraft) -> None:
        """The analysis sink: store the event (and its outbox rows); keep an unknown face's
        template apart from any identity, for the unknown-face retention period only."""
        assert self.dispatcher is not None
        event = store_draft(
            self.db,
            draft,
            data_dir=self.data_dir,
            routing=Routing.from_config(self.config),
            wake=self.dispatcher.wake,
        )
        if draft.embedding is not None:
            add_unknown(
                self.db,
                event_uid=event.uid,
                camera=draft.camera,
                seen_at=event.start,
                embedding=draft.embedding,
                model=self.engine.model_name,
            )
        if self.sync is not None:
            self.sync.wake()

    def start(self) -> None:
        cfg = self.config
        # temporary files (uploads, exports, scratch) under <data_dir>/tmp, capped, and
        # what earlier processes left there removed
        self._tmp = TmpSpace.from_config(cfg)
        self._tmp.clean()
        self._tmp_previous = self._tmp.install()
        self.dispatcher = Dispatcher(self.db, cfg)
        self.dispatcher.start()
        if cfg.sync.enabled:
            self.sync = EdgeSync(cfg, self.db, self.data_dir)
            self.sync.start()
        self.retention = RetentionScheduler(
            self.db, self.data_dir, cfg.cameras, cfg.recording, on_report=self._storage_report
        )
        self.retention.start()
        self.scrub = ScrubScheduler(self.db, self.data_dir, cfg.recording)
        self.scrub.start()
        options = RecorderOptions(disk_check=self.retention.disk_state)
        self.recording = RecordingService(cfg.cameras, self.data_dir, self.db, options)
        self.recording.start()
        gallery = Gallery(self.db, self.engine.model_name)
        calibration = load_calibration(
            self.data_dir, self.engine.model_name, cfg.faces.match_threshold
        )
        self.analysis = AnalysisService(
            cfg.cameras,
            self.engine,
            gallery,
            calibration,
            self.store_event,
            self.on_frame,
            recognises=cfg.recognises,
            db=self.db,
            on_occupancy=self.dispatcher.set_zone_occupancy,
        )
        self.analysis.start()
        self.recording.analysis_dropped = self.analysis.dropped
        self._housekeeper = threading.Thread(
            target=self._housekeeping, name="housekeeping", daemon=True
        )
        self._housekeeper.start()

    def _housekeeping(self) -> None:
        """Retained camera status on MQTT when a camera's state changes (checked every few
        seconds), idle review items closed; unknown-face templates past their retention
        deleted every ten minutes."""
        published: dict[str, tuple[str, str]] = {}
        next_purge = 0.0
        while True:
            for st in self.recording.statuses() if self.recording else []:
                key = (str(st.state), st.error)
                if published.get(st.name) != key and self.dispatcher is not None:
                    self.dispatcher.set_camera_status(
                        st.name,
                        str(st.state),
                        online=st.online,
                        error=st.error,
                        dropped_frames=st.dropped_frames,
                    )
                    published[st.name] = key
                    if self.sync is not None:
                        self.sync.camera_status(st.name, str(st.state))
            if time.monotonic() >= next_purge:
                next_purge = time.monotonic() + 600
                self._purge_unknown_faces()
            privacy_retention.run_due(self.db, self.config)  # on start, then hourly
            self._close_review_items()
            if self._stop.wait(3):
                return

    def _close_review_items(self) -> None:
        """Review items no event can join any more: closed, their `end` announced."""
        try:
            if close_idle(self.db, Routing.from_config(self.config)) and self.dispatcher:
                self.dispatcher.wake()
        except Exception:  # tried again in a few seconds; events are stored regardless
            log.exception("closing review items failed")

    def _storage_report(self, report: RetentionReport) -> None:
        """After each retention pass: the storage alarm (set or cleared) retained on MQTT."""
        if self.dispatcher is not None:
            status = storage_status(self.data_dir, self.config.recording, alarm=report.alarm)
            self.dispatcher.set_storage_status(status)

    def _purge_unknown_faces(self) -> None:
        days = self.config.privacy.unknown_face_retention_days
        cutoff = datetime.now(UTC) - timedelta(days=days)
        try:
            n = purge_unknown(self.db, cutoff)
            if n:
                log.info("deleted %d unknown-face template(s) older than %s", n, cutoff)
        except Exception:  # the next round tries again; recording is never affected
            log.exception("unknown-face purge failed")

    def stop(self) -> None:
        self._stop.set()
        parts = (self.analysis, self.recording, self.scrub, self.retention, self.dispatcher)
        for part in (*parts, self.sync):
            if part is not None:
                part.stop()
        if self._tmp is not None:
            self._tmp.uninstall(self._tmp_previous)
