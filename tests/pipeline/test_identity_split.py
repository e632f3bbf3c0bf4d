"""A face track never carries one person's identity to another: a hard cut from Obama to Biden
at the same place gives two events, each with its own name; Obama moving on stays one."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from vigil.camera.motion import MotionDetector
from vigil.camera.source import analysis_frames
from vigil.faces.calibration import Calibration
from vigil.faces.engine import FaceEngine
from vigil.faces.gallery import Gallery, check_photos
from vigil.pipeline.analyzer import CameraAnalyzer, EventDraft, MotionGate, WholeFrame
from vigil.store.db import Database
from vigil.store.models import LegalBasis
from vigil.vision.person import HogPersonDetector
from vigil.vision.video import Mp4Writer

FPS, SECONDS, CUT_AT = 10, 6, 3.0


def clip(path: Path, first: np.ndarray, second: np.ndarray | None) -> Path:
    """A face drifting right and growing for 6 s. With `second`, at 3 s the picture cuts
    (other background) to `second`'s face at the same place, carrying on the same way."""
    with Mp4Writer(path, FPS) as out:
        for i in range(SECONDS * FPS):
            t = i / FPS
            after = second is not None and t >= CUT_AT
            img = np.full((480, 640, 3), (150, 140, 120) if after else (70, 80, 90), np.uint8)
            cv2.rectangle(img, (40, 30), (600, 470), (90, 60, 50) if after else (50, 60, 70), 8)
            size = int(200 + 8 * t)
            face = cv2.resize(second if after and second is not None else first, (size, size))
            x = int(150 + 25 * t)
            img[100 : 100 + size, x : x + size] = face
            out.write(img)
    return path


def portrait(engine: FaceEngine, path: Path) -> np.ndarray:
    """A square crop centred on the photo's face, the face half its height: two portraits put
    at the same place in a clip have their faces at the same place."""
    image = cv2.imread(str(path))
    x, y, w, h = engine.single_face(image, path.name).face.box
    half = int(max(w, h))
    cx, cy = int(x + w / 2), int(y + h / 2)
    padded = cv2.copyMakeBorder(image, half, half, half, half, cv2.BORDER_REPLICATE)
    return padded[cy : cy + 2 * half, cx : cx + 2 * half]


@pytest.fixture(scope="module")
def photos(faces_dir: Path, engine: FaceEngine) -> tuple[np.ndarray, np.ndarray]:
    return portrait(engine, faces_dir / "obama2.jpg"), portrait(engine, faces_dir / "biden.jpg")


@pytest.fixture
def make(data_dir: Path, engine: FaceEngine, faces_dir: Path):
    """An analyzer whose gallery holds Obama and Biden, each from another photo than the clip's."""
    gallery = Gallery(Database(f"sqlite:///{data_dir / 'vigil.db'}"), engine.model_name)
    for name, photo in (("obama", "obama.jpg"), ("biden", "people/biden/biden2.jpg")):
        found = check_photos(engine, [faces_dir / photo])
        gallery.enroll(name, found, legal_basis=LegalBasis.consent, enrolled_by="test")
    matcher = gallery.matcher(Calibration.default(engine.model_name))

    def build(gate: MotionGate) -> CameraAnalyzer:
        return CameraAnalyzer("door", engine, matcher, HogPersonDetector(), gate)

    return build


def analyse(analyzer: CameraAnalyzer, path: Path) -> list[tuple[float, EventDraft]]:
    """(time of the frame that returned it, final draft) for every completed event."""
    out = []
    for frame in analysis_frames(str(path), fps=5, reconnect=False, pace=False):
        out += [(frame.pts_seconds, d) for d in analyzer.process(frame.image, frame.pts_seconds)]
    out += [(float("inf"), d) for d in analyzer.finish()]
    return [(t, d) for t, d in out if d.final and d.kind != "zone_change"]


def test_a_cut_to_another_face_in_place_splits_the_track(make, photos, tmp_path: Path) -> None:
    """No cut signal (every whole frame analysed): the faces themselves must split the track."""
    analyzer = make(WholeFrame())
    events = [d for _, d in analyse(analyzer, clip(tmp_path / "cut.mp4", *photos))]
    assert [(e.kind, e.person_name) for e in events] == [
        ("known_person", "obama"),
        ("known_person", "biden"),
    ], [e.to_dict() for e in events]
    obama, biden = events
    assert obama.track_id != biden.track_id and obama.uid != biden.uid
    assert obama.end < CUT_AT <= biden.start, "each part covers only its own person"
    assert all(t < CUT_AT for t, _ in obama.box_path)
    assert analyzer.stats.counts["look_refused"] >= 1


def test_a_scene_cut_ends_every_track_at_once(make, photos, tmp_path: Path) -> None:
    """Behind the motion gate the cut is seen as a whole-frame change: Obama's event is
    completed by the frame of the cut, before anything of the new picture is tracked."""
    analyzer = make(MotionDetector())
    timed = analyse(analyzer, clip(tmp_path / "cut.mp4", *photos))
    assert [(d.kind, d.person_name) for _, d in timed] == [
        ("known_person", "obama"),
        ("known_person", "biden"),
    ], [d.to_dict() for _, d in timed]
    (told, obama), (_, biden) = timed
    assert CUT_AT <= told < CUT_AT + 0.25, "completed at the cut's frame, not 1.5 s later"
    assert obama.end < CUT_AT <= biden.start
    assert analyzer.stats.counts["cuts"] == 1


def test_the_same_face_moving_on_stays_one_track(make, photos, tmp_path: Path) -> None:
    analyzer = make(WholeFrame())
    events = [d for _, d in analyse(analyzer, clip(tmp_path / "walk.mp4", photos[0], None))]
    assert [(e.kind, e.person_name) for e in events] == [("known_person", "obama")]
    assert events[0].end - events[0].start > SECONDS - 1
    assert analyzer.stats.counts["look_refused"] == 0
    # its look was checked about once a second, not on every frame
    assert SECONDS - 1 <= analyzer.stats.counts["embeddings"] < SECONDS * 5 / 2
