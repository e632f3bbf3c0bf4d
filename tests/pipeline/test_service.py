"""Live analysis of cameras: events reach the sink; a dead camera stalls nobody; enrolment
during the run is picked up."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2
import pytest

from vigil.config import CameraConfig
from vigil.demo.assets import door_clip
from vigil.faces.calibration import Calibration
from vigil.faces.engine import FaceEngine
from vigil.faces.gallery import Gallery, check_photos
from vigil.pipeline.analyzer import EventDraft
from vigil.pipeline.service import AnalysisService
from vigil.store.db import Database
from vigil.store.models import LegalBasis


@pytest.fixture(scope="module")
def door(tmp_path_factory: pytest.TempPathFactory, faces_dir: Path) -> Path:
    obama = cv2.imread(str(faces_dir / "obama2.jpg"))
    return door_clip(tmp_path_factory.mktemp("door") / "door.mp4", obama[100:700, 150:650], None)


def test_live_analysis_recognises_and_survives_a_dead_camera(
    door: Path, data_dir: Path, engine: FaceEngine, faces_dir: Path, tmp_path: Path
) -> None:
    gallery = Gallery(Database(f"sqlite:///{data_dir / 'vigil.db'}"), engine.model_name)
    events: list[EventDraft] = []
    frames: dict[str, int] = {}
    lock = threading.Lock()

    def sink(event: EventDraft) -> None:
        with lock:
            events.append(event)

    def on_frame(camera: str, image, *, people) -> None:
        frames[camera] = frames.get(camera, 0) + 1

    told: list[tuple[str, str]] = []  # what the recognition log hears, in order

    class Listener:
        def started(self, camera: str) -> None:
            told.append(("started", camera))

        def reloaded(self, camera: str) -> None:
            told.append(("reloaded", camera))

        def stopped(self, camera: str, ended_by: str = "stopped") -> None:
            told.append((ended_by, camera))

    cameras = [
        CameraConfig(name="door", url=str(door), loop=True),
        CameraConfig(name="dead", url=str(tmp_path / "missing.mp4")),
    ]
    service = AnalysisService(
        cameras,
        engine,
        gallery,
        Calibration.default(engine.model_name),
        sink,
        on_frame,
        recognition=Listener(),
    )
    for t in service.threads:
        t.matchers.check_every_s = 0.5
    service.start()
    try:
        # Enrol while the camera is already being analysed: the next pass must be recognised.
        photos = check_photos(engine, [faces_dir / "obama.jpg"])
        gallery.enroll("obama", photos, legal_basis=LegalBasis.consent, enrolled_by="test")
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            with lock:
                if any(e.person_name == "obama" for e in events):
                    break
            time.sleep(0.5)
    finally:
        service.stop()
    known = [e for e in events if e.kind == "known_person"]
    assert known and known[0].camera == "door" and known[0].start > 1e9  # wall-clock time
    assert not known[0].final, "a known person is announced while still in view"
    assert frames.get("door", 0) >= 5 and "dead" not in frames
    dead = next(t for t in service.threads if t.camera.name == "dead")
    assert not dead.is_alive()
    # One period on the live camera, a new one when enrolment rebuilt its matcher; none on
    # the dead camera, which never delivered a frame.
    assert told[0] == ("started", "door") and told[-1] == ("stopped", "door")
    assert ("reloaded", "door") in told and all(cam == "door" for _, cam in told)
