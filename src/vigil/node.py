"""The edge node: everything `vigil serve` runs for one site, started and stopped together.

Recording (one thread per camera), live analysis (one thread per camera) whose events go to
the event store, the cameras' own ONVIF motion events (a thread per camera that asks for them,
`vigil.onvif.events`), notification delivery from the outbox with each zone's people count kept on
MQTT, and, when `sync.enabled`, publishing to the hub (`vigil.sync.edge_agent`). What runs on
a schedule is one `vigil.maintenance.Scheduler`, its jobs listed in `start()`: footage
retention (on start, on its interval and when free space drops), the scrub that re-checks the
checksums of closed segments (rate limited, `camera/scrub.py`), privacy retention (on start
and hourly), the purge of unknown-face templates past their retention period, camera status
on MQTT with the stream health checks (frame rate or bitrate collapse, recording gaps), the
closing of idle review items, the recognition log's heartbeat, and the audit head: signed at
least every `privacy.audit_head_interval_s` while records are written and at shutdown, and
handed to the witnesses off the machine (`vigil.privacy.witness`). Picture health (covered,
blurred, moved...) is checked by each camera's analysis thread; both raise their alarms
through one `events.health.HealthAlarms`.

Every period of live face recognition is logged (`privacy.recognition_log`): periods a dead
process left open are closed at start, each camera's period opens at its first analysed
frame and closes when its analysis ends, and each known person's event carries its match
record in its own transaction.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from vigil.api.identity import push_audience
from vigil.camera.footage_retention import FootageRetention, RetentionReport, storage_status
from vigil.camera.health import StreamHealth
from vigil.camera.live_feed import LiveFeeds
from vigil.camera.recorder import RecorderOptions, RecordingService
from vigil.camera.scrub import schedule_scrub
from vigil.camera.status import CameraStatus
from vigil.config import VigilConfig
from vigil.events.health import HealthAlarms
from vigil.events.review import close_idle
from vigil.events.store import Routing, store_draft
from vigil.faces.calibration import load_calibration
from vigil.faces.engine import FaceEngine
from vigil.faces.gallery import Gallery
from vigil.faces.sightings import add_unknown, purge_unknown
from vigil.maintenance import Scheduler
from vigil.notify.dispatcher import Dispatcher
from vigil.onvif.events import OnvifEvents
from vigil.pipeline.analyzer import EventDraft
from vigil.pipeline.service import AnalysisService, FrameListener
from vigil.privacy.audit import AuditLog
from vigil.privacy.data_retention import run_scheduled as run_privacy_retention
from vigil.privacy.recognition_log import RecognitionLog
from vigil.privacy.witness import AuditWitness
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
    feeds: LiveFeeds | None = None  # live H.264 for browsers, fed by the recorders (0067)
    recording: RecordingService | None = field(default=None, init=False)
    retention: FootageRetention | None = field(default=None, init=False)
    maintenance: Scheduler = field(default_factory=lambda: Scheduler("site"), init=False)
    analysis: AnalysisService | None = field(default=None, init=False)
    dispatcher: Dispatcher | None = field(default=None, init=False)
    sync: EdgeSync | None = field(default=None, init=False)
    witness: AuditWitness | None = field(default=None, init=False)
    recognition: RecognitionLog | None = field(default=None, init=False)
    onvif_events: list[OnvifEvents] = field(default_factory=list, init=False)
    recognition_heartbeat_s: float = 30.0  # an open period's end is known to within this
    health: HealthAlarms | None = field(default=None, init=False)
    _stream_health: dict[str, StreamHealth] = field(default_factory=dict, init=False)
    _published: dict[str, tuple[str, str]] = field(default_factory=dict, init=False)
    _tmp: TmpSpace | None = field(default=None, init=False)
    _tmp_previous: str | None = field(default=None, init=False)

    @property
    def data_dir(self) -> Path:
        return self.config.storage.data_dir

    def store_event(self, draft: EventDraft) -> None:
        """The analysis sink: store the event (and its outbox rows); keep an unknown face's
        template apart from any identity, only when the site opted in to keeping them
        (`privacy.unknown_face_retention_days`) and for that period only."""
        assert self.dispatcher is not None
        event = store_draft(
            self.db,
            draft,
            data_dir=self.data_dir,
            routing=Routing.from_config(self.config),
            wake=self.dispatcher.wake,
            model=self.engine.model_name,
            on_created=self.recognition.match_hook if self.recognition else None,
        )
        if draft.embedding is not None and self.config.privacy.keeps_unknown_faces:
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
        self.dispatcher = Dispatcher(self.db, cfg, audience=push_audience())
        self.dispatcher.start()
        if cfg.sync.enabled:
            self.sync = EdgeSync(cfg, self.db, self.data_dir)
            self.sync.start()
        self.retention = FootageRetention(
            self.db, self.data_dir, cfg.cameras, cfg.recording, on_report=self._storage_report
        )
        options = RecorderOptions(
            disk_check=self.retention.disk_state,
            cameras_per_worker=cfg.recording.cameras_per_worker or None,
            copy_loop=cfg.recording.copy_loop,
        )
        self.recording = RecordingService(
            cfg.cameras, self.data_dir, self.db, options, live=self.feeds
        )
        self.recording.start()
        self.health = HealthAlarms(
            self.db, self.data_dir, lambda: Routing.from_config(cfg), self._health_changed
        )
        calibration = load_calibration(
            self.data_dir, self.engine.model_name, cfg.faces.match_threshold
        )
        self.recognition = RecognitionLog(
            self.db,
            AuditLog.from_config(cfg),
            model=self.engine.model_name,
            threshold=calibration.threshold,
            data_dir=self.data_dir,
        )
        self.recognition.close_dangling()  # periods a dead process left open
        for cam in cfg.cameras:  # asked to recognise without its record: it does not (0064)
            if note := cfg.recognition_note(cam):
                log.warning("%s (`vigil config check` lists it)", note)
        gallery = Gallery(self.db, self.engine.model_name, calibration)
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
            recognition=self.recognition,
            health=self.health,
            health_of=cfg.health_of,
        )
        self.analysis.start()
        self.recording.analysis_dropped = self.analysis.dropped
        self.onvif_events = [
            OnvifEvents(
                cam,
                self.db,
                self.data_dir,
                routing=Routing.from_config(cfg),
                wake=self.dispatcher.wake,
            )
            for cam in cfg.cameras
            if cam.enabled and cam.onvif is not None and cam.onvif.events
        ]
        for poller in self.onvif_events:
            poller.start()
        # what runs on a schedule, each job in its own thread; a failing one is logged and
        # tried again at its next turn
        m = self.maintenance
        self.retention.add_to(m)  # on start, every retention_interval_s, when space drops
        schedule_scrub(m, self.db, self.data_dir, cfg.recording)  # after 60 s, then paced
        m.add("privacy retention", lambda: run_privacy_retention(self.db, cfg), every_s=3600)
        m.add("unknown faces", self._purge_unknown_faces, every_s=600)
        m.add("camera status", self._publish_camera_status, every_s=3)
        m.add("review items", self._close_review_items, every_s=3)
        # the audit chain's head signed at least every audit_head_interval_s while records
        # are written, and handed to the witnesses off this machine (0065)
        self.witness = AuditWitness.from_config(cfg, self.db)
        m.add("audit head", self.witness.tick, every_s=self.witness.tick_s)
        m.add(
            "recognition log",
            self.recognition.heartbeat,
            every_s=self.recognition_heartbeat_s,
            first_after_s=self.recognition_heartbeat_s,
        )
        m.start()

    def _health_changed(self) -> None:
        """A health alarm was stored: deliver it now (MQTT, webhooks, the hub)."""
        if self.dispatcher is not None:
            self.dispatcher.wake()
        if self.sync is not None:
            self.sync.wake()

    def _check_streams(self, statuses: list[CameraStatus]) -> None:
        """Frame rate or bitrate collapse and recording gaps, from the recorders' counters."""
        if self.health is None:
            return
        cameras = {c.name: c for c in self.config.cameras}
        now = time.time()
        for st in statuses:
            cam = cameras.get(st.name)
            if cam is None or not cam.enabled or not self.config.health_of(cam).enabled:
                continue
            watch = self._stream_health.get(st.name)
            if watch is None:
                watch = self._stream_health[st.name] = StreamHealth(
                    st.name,
                    self.config.health_of(cam),
                    recorded=cam.record,
                    active=self.health.open_conditions(st.name),
                )
            for change in watch.observe(now, st):
                self.health.apply(change)

    def _publish_camera_status(self) -> None:
        """Retained camera status on MQTT (and to the hub) when a camera's state changes; the
        stream health checks on the same readings."""
        statuses = self.recording.statuses() if self.recording else []
        self._check_streams(statuses)
        for st in statuses:
            key = (str(st.state), st.error)
            if self._published.get(st.name) != key and self.dispatcher is not None:
                self.dispatcher.set_camera_status(
                    st.name,
                    str(st.state),
                    online=st.online,
                    error=st.error,
                    dropped_frames=st.dropped_frames,
                )
                self._published[st.name] = key
                if self.sync is not None:
                    self.sync.camera_status(st.name, str(st.state))

    def _close_review_items(self) -> None:
        """Review items no event can join any more: closed, their `end` announced."""
        if close_idle(self.db, Routing.from_config(self.config)) and self.dispatcher:
            self.dispatcher.wake()

    def _storage_report(self, report: RetentionReport) -> None:
        """After each retention pass: the storage alarm (set or cleared) retained on MQTT."""
        if self.dispatcher is not None:
            status = storage_status(self.data_dir, self.config.recording, alarm=report.alarm)
            self.dispatcher.set_storage_status(status)

    def _sign_final_head(self) -> None:
        if self.witness is None:
            return
        try:
            self.witness.final()
        except Exception:  # stopping goes on; the chain is signed at the next start
            log.exception("signing the audit head at shutdown failed")

    def _purge_unknown_faces(self) -> None:
        days = self.config.privacy.unknown_face_days  # 0: none kept, any left are deleted
        cutoff = datetime.now(UTC) - timedelta(days=days)
        n = purge_unknown(self.db, cutoff)
        if n:
            log.info("deleted %d unknown-face template(s) older than %s", n, cutoff)

    def stop(self) -> None:
        for poller in self.onvif_events:  # all asked at once: each may be in a pull
            poller.halt()
        for poller in self.onvif_events:
            poller.stop()
        for part in (self.analysis, self.recording, self.maintenance):
            if part is not None:
                part.stop()
        self._sign_final_head()  # before sync stops: its last round sends the head too
        for link in (self.dispatcher, self.sync):
            if link is not None:
                link.stop()
        if self._tmp is not None:
            self._tmp.uninstall(self._tmp_previous)
