"""Event snapshots show the object: the best-scored, sharpest crop where the box is visible,
never a black or flat one (issue 14: person events with all-black snapshots)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from vigil.faces.calibration import Calibration
from vigil.faces.engine import FaceEngine
from vigil.faces.matcher import Matcher, NumpyIndex
from vigil.pipeline.analyzer import CameraAnalyzer, EventDraft, WholeFrame
from vigil.vision.person import ObjectBox

W, H = 320, 240
MASK = [[(0.0, 0.6), (1.0, 0.6), (1.0, 1.0), (0.0, 1.0)]]  # the bottom 40%: a neighbour's yard


class Scripted:
    """A person detector that reports the boxes it is given, one list per frame (a detector
    sees the whole person, a head above a mask or a shape in a dark frame)."""

    def __init__(self, frames: list[list[ObjectBox]]) -> None:
        self.frames = iter(frames)

    def detect(self, image: np.ndarray) -> list[ObjectBox]:
        return next(self.frames)


def walk() -> tuple[list[np.ndarray], list[list[ObjectBox]]]:
    """A person (a striped figure) walks down towards the camera, growing; the last boxes
    are the largest and the best-scored."""
    rng = np.random.default_rng(14)
    background = rng.integers(60, 200, (H, W, 3), np.uint8)
    frames, boxes = [], []
    for i in range(10):
        w, h = 30 + 3 * i, 60 + 6 * i
        x, y = 140, 10 + 18 * i
        image = background.copy()
        figure = np.full((h, w, 3), (90, 150, 60), np.uint8)
        figure[::4] = (40, 40, 220)
        figure[2::4] = (230, 230, 230)
        image[y : y + h, x : x + w] = figure[: H - y]
        frames.append(image)
        boxes.append([ObjectBox((x, y, w, h), 0.5 + 0.05 * i)])
    return frames, boxes


def analyse(
    engine: FaceEngine, frames: list[np.ndarray], boxes: list[list[ObjectBox]], masks=None
) -> list[EventDraft]:
    matcher = Matcher(NumpyIndex(128), {}, {}, Calibration.default(engine.model_name))
    analyzer = CameraAnalyzer("yard", engine, matcher, Scripted(boxes), WholeFrame(), masks)
    events = []
    for i, frame in enumerate(frames):
        events += analyzer.process(frame, i * 0.2)
    return events + analyzer.finish()


def decoded(event: EventDraft) -> np.ndarray:
    assert event.snapshot_jpeg is not None, f"{event.kind} event without a snapshot"
    image = cv2.imdecode(np.frombuffer(event.snapshot_jpeg, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert image is not None
    return image


def assert_shows_the_person(events: list[EventDraft]) -> None:
    people = [e for e in events if e.kind == "person"]
    assert len(people) == 1, events
    image = decoded(people[0])
    assert image.mean() > 40 and image.std() > 20, (image.mean(), image.std())
    assert (image < 10).mean() < 0.25, "most of the snapshot is black"


def test_person_walking_under_a_privacy_mask_keeps_a_snapshot_from_in_view(
    engine: FaceEngine,
) -> None:
    frames, boxes = walk()
    assert_shows_the_person(analyse(engine, frames, boxes, MASK))


@pytest.mark.parametrize("level", [0, 128])
def test_a_black_or_flat_frame_is_never_the_snapshot(engine: FaceEngine, level: int) -> None:
    """A camera that drops to black (IR switch-over) or a grey decoder frame while the
    detector still reports the person: the best earlier crop is the snapshot."""
    frames, boxes = walk()
    frames[-1] = np.full_like(frames[-1], level)
    assert_shows_the_person(analyse(engine, frames, boxes))


def test_the_sharper_crop_beats_a_larger_blurred_one(engine: FaceEngine) -> None:
    """Motion blur in the frame where the box is largest and best-scored: a sharp one wins."""
    frames, boxes = walk()
    blurred = cv2.GaussianBlur(frames[-1], (0, 0), 6)
    frames[-1] = blurred
    people = [e for e in analyse(engine, frames, boxes) if e.kind == "person"]
    assert len(people) == 1
    x, y, w, h = (int(v) for v in boxes[-1][0].box)
    blur = cv2.Laplacian(
        cv2.cvtColor(blurred[y : y + h, x : x + w], cv2.COLOR_BGR2GRAY), cv2.CV_64F
    )
    sharp = cv2.Laplacian(decoded(people[0]), cv2.CV_64F)
    assert sharp.var() > 10 * blur.var(), (sharp.var(), blur.var())
