"""A running camera analysis picks up new privacy masks, motion masks and zones without a
restart: the next analysed frame (what live view shows) is black inside the new mask."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np

from vigil.config import CameraConfig, MotionConfig, ZoneConfig
from vigil.faces.calibration import Calibration
from vigil.faces.engine import FaceEngine
from vigil.faces.gallery import Gallery
from vigil.pipeline.analyzer import EventDraft
from vigil.pipeline.service import AnalysisService
from vigil.store.db import Database

LEFT_HALF = [(0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0)]


def test_running_analysis_uses_a_new_privacy_mask(
    testdata: Path, data_dir: Path, engine: FaceEngine
) -> None:
    frames: list[np.ndarray] = []
    lock = threading.Lock()
    events: list[EventDraft] = []

    def on_frame(camera: str, image: np.ndarray, *, people: list) -> None:  # type: ignore[type-arg]
        with lock:
            frames.append(image.copy())

    def wait_frames(n: int, timeout: float = 30) -> list[np.ndarray]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with lock:
                if len(frames) >= n:
                    return list(frames)
            time.sleep(0.05)
        raise AssertionError(f"only {len(frames)} analysed frames in {timeout} s")

    cam = CameraConfig(
        name="street",
        url=str(testdata / "video" / "vtest.avi"),
        loop=True,
        motion=MotionConfig(fps=10),
    )
    db = Database(f"sqlite:///{data_dir / 'vigil.db'}")
    service = AnalysisService(
        [cam],
        engine,
        Gallery(db, engine.model_name),
        Calibration.default(engine.model_name),
        events.append,
        on_frame,
    )
    [thread] = service.threads
    service.start()
    try:
        before = wait_frames(3)[-1]
        w = before.shape[1]
        assert before[:, : w // 2].max() > 0, "the street is not black before any mask"
        masked = cam.model_copy(
            update={
                "privacy_masks": [LEFT_HALF],
                "motion": cam.motion.model_copy(update={"masks": [LEFT_HALF]}),
                "zones": [ZoneConfig(name="road", kind="machine", polygon=LEFT_HALF[:3])],
            }
        )
        with lock:
            seen = len(frames)
        service.update_camera(masked)
        service.update_camera(cam.model_copy(update={"name": "other"}))  # no such camera: ignored
        after = wait_frames(seen + 3)[seen + 1 :]  # the frame in flight may predate the swap
    finally:
        service.stop()
    assert thread.error is None and thread.is_alive() is False
    for image in after:
        # Cut a 2 px seam: the polygon's edge pixels round to the right half's first column.
        assert image[:, : w // 2 - 2].max() == 0, "the new privacy mask is not blacked out"
        assert image[:, w // 2 + 2 :].max() > 0, "outside the mask the picture is still there"
    assert thread.camera.privacy_masks == [LEFT_HALF]
    assert thread.analyzer.zones[0].name == "road"
    assert thread.motion.masks == [LEFT_HALF]
    assert thread.frames >= len(frames) - 1  # the same thread ran on: no restart
