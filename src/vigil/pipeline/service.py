"""Live analysis of every camera: one thread per camera, events handed to a sink.

Each thread decodes its camera's analysis stream (the sub-stream when configured) at the
camera's analysis rate, runs a `CameraAnalyzer`, and hands every finished event to the sink
(the event store); with a database, the zones' occupancy is stored per minute
(`pipeline.occupancy`). A dead or slow camera only stalls its own thread. The matcher is reloaded
when the gallery changes, so a person enrolled through the UI is recognised within seconds.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Protocol

import numpy as np

from vigil.camera.motion import MotionDetector, MotionEvents
from vigil.camera.source import AnalysisFrame, analysis_frames, analysis_url
from vigil.config import CameraConfig, HealthConfig
from vigil.events.health import HealthAlarms
from vigil.faces.calibration import Calibration
from vigil.faces.engine import FaceEngine
from vigil.faces.gallery import Gallery, MatcherCache
from vigil.faces.matcher import Matcher, NumpyIndex
from vigil.pipeline.analyzer import CameraAnalyzer, EventDraft
from vigil.pipeline.newest import NewestOnly
from vigil.pipeline.occupancy import OccupancyListener, OccupancyRecorder
from vigil.pipeline.tamper import PictureWatch
from vigil.pipeline.tracker import Box
from vigil.store.db import Database
from vigil.vision.person import detector_for

log = logging.getLogger(__name__)

EventSink = Callable[[EventDraft], None]


class RecognitionListener(Protocol):
    """Told when live recognition starts and stops on a camera (`privacy.recognition_log`)."""

    def started(self, camera: str) -> None: ...
    def reloaded(self, camera: str) -> None:
        """The camera's matcher was rebuilt (the gallery changed) before its next frame."""
        ...

    def stopped(self, camera: str, ended_by: str = "stopped") -> None: ...


class FrameListener(Protocol):
    def __call__(self, camera: str, image: np.ndarray, /, *, people: list[Box]) -> object:
        """A camera's analysed frame (privacy masks burned in) and where people are in it."""


class _NoMatcher:
    """Stands in for the matcher on cameras with recognition off: every face is unknown, but
    an objector's is still withheld (no unknown-face template kept of it), so it follows the
    shared matcher's objections."""

    def __init__(self, calibration: Calibration, shared: MatcherCache | None = None) -> None:
        self.shared = shared
        self._matcher = Matcher(NumpyIndex(128), {}, {}, calibration)

    def get(self) -> Matcher:
        guard = self.shared.get().guard if self.shared is not None else None
        if guard is not self._matcher.guard:
            cal = self._matcher.calibration
            self._matcher = Matcher(NumpyIndex(128), {}, {}, cal, guard=guard)
        return self._matcher


class CameraAnalysis(threading.Thread):
    def __init__(
        self,
        camera: CameraConfig,
        engine: FaceEngine,
        matchers: MatcherCache | _NoMatcher,
        sink: EventSink,
        on_frame: FrameListener | None = None,
        max_width: int = 960,
        db: Database | None = None,
        newest_only: bool = True,
        on_occupancy: OccupancyListener | None = None,
        recognition: RecognitionListener | None = None,
        health: PictureWatch | None = None,
    ) -> None:
        super().__init__(name=f"analysis-{camera.name}", daemon=True)
        # told from the first analysed frame to the end (this camera's matcher is real)
        self.recognition = recognition
        self.camera = camera
        # Decode in a thread of its own and analyse the newest frame, so a slow analysis drops
        # frames instead of falling ever further behind the camera (and the live view with it).
        self.newest_only = newest_only
        self.source: NewestOnly | None = None
        self.sink = sink
        self.on_frame = on_frame
        self.max_width = max_width
        self.matchers = matchers
        self.motion = MotionDetector.from_config(camera.motion)
        # The analyzer's motion gate also gives the camera its stored motion events.
        self.motion_events = MotionEvents(camera.name, db) if camera.motion.enabled else None
        # People inside each zone, stored per minute (and heard live by `on_occupancy`).
        self.occupancy = (
            OccupancyRecorder(camera.name, db, on_change=on_occupancy) if db is not None else None
        )
        self.analyzer = CameraAnalyzer(
            camera.name,
            engine,
            matchers.get(),
            detector_for(camera.analysis),
            self.motion,
            camera.privacy_masks,
            camera.zones,
        )
        # Camera health and tamper alarms from the same frames (`pipeline.tamper`).
        self.health = health
        self._stopping = threading.Event()
        self.frames = 0
        self.error: str | None = None
        self._layout_lock = threading.Lock()
        self._new_layout: CameraConfig | None = None

    def stop(self) -> None:
        self._stopping.set()

    def update_layout(self, camera: CameraConfig) -> None:
        """Use `camera`'s privacy masks, motion masks and zones from the next frame on (safe to
        call from any thread; the analysis thread swaps them between frames)."""
        with self._layout_lock:
            self._new_layout = camera

    def _apply_layout(self) -> None:
        """Swap masks and zones in place: trackers, the motion background and the matcher carry
        on, so nothing is missed while an admin edits the zones."""
        with self._layout_lock:
            cam, self._new_layout = self._new_layout, None
        if cam is None:
            return
        self.motion.set_masks(cam.motion.masks)
        self._emit(self.analyzer.set_layout(cam.privacy_masks, cam.zones))
        self.camera = cam

    def _emit(self, events: list[EventDraft]) -> None:
        for event in events:
            try:
                self.sink(event)
            except Exception:  # a failing sink must not kill the camera's analysis
                log.exception("event sink failed for %s", self.camera.name)

    def _check_health(self, t: float, image: np.ndarray | None) -> None:
        if self.health is None or image is None:
            return
        try:
            self.health.observe(t, image)
        except Exception:  # a failing health check must not stop the camera's analysis
            log.exception("health check failed for %s", self.camera.name)

    def run(self) -> None:
        cam = self.camera
        decoded = analysis_frames(
            analysis_url(cam),
            fps=cam.motion.fps,
            max_width=self.max_width,
            stop=self._stopping,
            rtsp_transport=cam.rtsp_transport,
            loop=cam.loop,
        )
        frames: Iterable[AnalysisFrame] = decoded
        if self.newest_only:
            frames = self.source = NewestOnly(decoded, self._stopping, f"decode-{cam.name}")
        recognising = False
        try:
            for frame in frames:
                if not recognising and self.recognition is not None:
                    self.recognition.started(cam.name)
                    recognising = True
                self._apply_layout()
                matcher = self.matchers.get()
                if matcher is not self.analyzer.matcher and self.recognition is not None:
                    self.recognition.reloaded(cam.name)
                self.analyzer.matcher = matcher
                # Live footage is timed by the wall clock at arrival, like the recordings.
                self._emit(self.analyzer.process(frame.image, frame.wall_time))
                if self.motion_events is not None and self.motion.last is not None:
                    when = datetime.fromtimestamp(frame.wall_time, UTC)
                    self.motion_events.update(when, self.motion.last)
                if self.occupancy is not None:
                    monitor = self.analyzer.zone_monitor
                    self.occupancy.update(frame.wall_time, monitor.occupancy if monitor else {})
                self.frames += 1
                self._check_health(frame.wall_time, self.analyzer.last_image)
                if self.on_frame is not None and self.analyzer.last_image is not None:
                    image, people = self.analyzer.last_image, self.analyzer.people_boxes()
                    self.on_frame(cam.name, image, people=people)
        except Exception as exc:  # keep the reason visible; the service reports it
            self.error = str(exc)
            log.exception("analysis of %s stopped", cam.name)
        finally:
            self._emit(self.analyzer.finish())
            if self.motion_events is not None:
                self.motion_events.finish()
            if self.occupancy is not None:
                self.occupancy.finish()
            if recognising and self.recognition is not None:
                self.recognition.stopped(cam.name, "error" if self.error else "stopped")


def _watch(
    cam: CameraConfig, alarms: HealthAlarms | None, cfg: HealthConfig
) -> PictureWatch | None:
    if alarms is None or not cfg.enabled:
        return None
    return PictureWatch(cam.name, cfg, alarms, live=not cam.loop)


class AnalysisService:
    """Analysis threads for every enabled camera with analysis on."""

    def __init__(
        self,
        cameras: list[CameraConfig],
        engine: FaceEngine,
        gallery: Gallery,
        calibration: Calibration,
        sink: EventSink,
        on_frame: FrameListener | None = None,
        recognises: Callable[[CameraConfig], bool] = lambda cam: cam.analysis.recognise,
        db: Database | None = None,
        newest_only: bool = True,
        on_occupancy: OccupancyListener | None = None,
        recognition: RecognitionListener | None = None,
        health: HealthAlarms | None = None,
        health_of: Callable[[CameraConfig], HealthConfig] = lambda cam: cam.health.over(
            HealthConfig()
        ),
    ) -> None:
        """`recognises(camera)`: whether faces on it are matched (`VigilConfig.recognises`
        adds the site-wide switch); elsewhere faces are detected, never matched. Whether a
        camera recognises is fixed until restart (a layout reload swaps masks and zones only).
        `on_occupancy(camera, zone, people)`: each change of a zone's people count.
        `recognition`: told when recognition starts and stops on each camera.
        `health`: where camera health alarms go (none: not checked); `health_of(camera)` its
        thresholds (`VigilConfig.health_of` adds the site's defaults)."""
        shared = MatcherCache(gallery, calibration)
        blind = _NoMatcher(calibration, shared)
        self.threads = [
            CameraAnalysis(
                cam,
                engine,
                shared if recognises(cam) else blind,
                sink,
                on_frame,
                db=db,
                newest_only=newest_only,
                on_occupancy=on_occupancy,
                recognition=recognition if recognises(cam) else None,
                health=_watch(cam, health, health_of(cam)),
            )
            for cam in cameras
            if cam.enabled and cam.analysis.enabled
        ]

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def dropped(self) -> dict[str, int]:
        """Frames each camera's analysis skipped so far (it takes the newest frame)."""
        return {t.camera.name: t.source.dropped for t in self.threads if t.source is not None}

    def update_camera(self, camera: CameraConfig) -> None:
        """Hand a camera's new masks and zones to its running analysis (if it has one)."""
        for t in self.threads:
            if t.camera.name == camera.name:
                t.update_layout(camera)

    def stop(self, timeout: float = 10.0) -> None:
        for t in self.threads:
            t.stop()
        for t in self.threads:
            t.join(timeout)
