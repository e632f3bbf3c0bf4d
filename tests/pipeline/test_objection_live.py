"""The live analysis path honours an objection: a walking face of an enrolled person who
objected gives an event with no name, no figures and no unknown-face template, while another
enrolled person in the same clip is still named."""

from __future__ import annotations

from pathlib import Path

from vigil.camera.source import analysis_frames
from vigil.faces.calibration import Calibration
from vigil.faces.engine import FaceEngine
from vigil.faces.gallery import Gallery, check_photos
from vigil.faces.objections import record_objection
from vigil.pipeline.analyzer import CameraAnalyzer, WholeFrame
from vigil.store.db import Database
from vigil.store.models import LegalBasis
from vigil.vision.person import HogPersonDetector

from .test_identity_split import clip, photos  # noqa: F401  (fixture)


def test_the_analyzer_withholds_an_objector(
    data_dir: Path,
    engine: FaceEngine,
    faces_dir: Path,
    photos,  # noqa: F811
    tmp_path: Path,
) -> None:
    gallery = Gallery(Database(f"sqlite:///{data_dir / 'vigil.db'}"), engine.model_name)
    for name, photo in (("obama", "obama.jpg"), ("biden", "people/biden/biden2.jpg")):
        found = check_photos(engine, [faces_dir / photo])
        gallery.enroll(name, found, legal_basis=LegalBasis.consent, enrolled_by="test")
    cal = Calibration.default(engine.model_name)
    [objector] = check_photos(engine, [faces_dir / "obama3.jpg"])  # neither photo of the clip
    assert objector.observation.embedding is not None
    record_objection(
        gallery.db,
        objector.observation.embedding,
        model=engine.model_name,
        match_threshold=cal.threshold,
        reason="objected in writing",
        recorded_by="test",
    )
    analyzer = CameraAnalyzer(
        "door", engine, gallery.matcher(cal), HogPersonDetector(), WholeFrame()
    )
    drafts = []
    video = str(clip(tmp_path / "cut.mp4", *photos))
    for frame in analysis_frames(video, fps=2, reconnect=False, pace=False):  # 2 fps: enough
        drafts += analyzer.process(frame.image, frame.pts_seconds)
    events = [d for d in drafts + analyzer.finish() if d.final and d.kind != "zone_change"]
    assert [(e.kind, e.person_name) for e in events] == [("face", None), ("known_person", "biden")]
    withheld = events[0]
    assert withheld.person_id is None and withheld.score is None and withheld.confidence is None
    assert withheld.embedding is None  # no unknown-face template kept of an objector
