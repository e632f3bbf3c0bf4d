"""The analysis measured on the labelled set (docs/eval-truth/vtest.json: vtest.avi, every
10th frame, every person at least 40 px tall, boxed and followed by hand), with the floors
issue 14 set: what an operator sees on a street camera is right, and stays right."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigil.camera.motion import MotionDetector
from vigil.config import AnalysisConfig, ZoneConfig
from vigil.faces.calibration import Calibration
from vigil.faces.engine import FaceEngine
from vigil.faces.matcher import Matcher, NumpyIndex
from vigil.pipeline.analyzer import CameraAnalyzer
from vigil.pipeline.evaluation import VideoReport, read_truth
from vigil.pipeline.offline import evaluate_video
from vigil.pipeline.zones import summarise
from vigil.vision.person import detector_for

TRUTH = Path(__file__).resolve().parents[2] / "docs" / "eval-truth" / "vtest.json"
# A doorway over the `road` line of the truth (x = 0.45): people going right are "in".
ROAD = ZoneConfig(
    name="road",
    kind="doorway",
    inward="right",
    polygon=[(0.40, 0.0), (0.50, 0.0), (0.50, 1.0), (0.40, 1.0)],
)


@pytest.fixture(scope="module")
def measured(testdata: Path, nanodet: Path, engine: FaceEngine) -> tuple[VideoReport, dict]:
    blind = Matcher(NumpyIndex(128), {}, {}, Calibration.default(engine.model_name))
    detector = detector_for(AnalysisConfig(detector="nanodet"))
    analyzer = CameraAnalyzer("street", engine, blind, detector, MotionDetector(), zones=[ROAD])
    events: list = []
    report, frames = evaluate_video(
        testdata / "video" / "vtest.avi", read_truth(TRUTH), analyzer, keep_events=events
    )
    assert frames == 398 and report.key_frames_evaluated == 80
    road = summarise([ROAD], events)[0]
    return report, road


def test_people_are_found_and_boxed_right(measured: tuple[VideoReport, dict]) -> None:
    report, _ = measured
    precision, recall = report.tall()  # people at least 60 px tall, IoU 0.5
    # Measured 0.990 and 0.918 (2026-12, NanoDet at 352); the targets are 0.90 both.
    assert precision >= 0.95 and recall >= 0.90, (precision, recall)
    assert report.precision >= 0.9 and report.recall >= 0.88  # all labelled, 40 px and up
    assert report.duplicates == 0  # never two boxes on one person


def test_one_event_per_walk_through(measured: tuple[VideoReport, dict]) -> None:
    report, _ = measured
    # 19 walk-throughs; measured 22 events (+16%), fragmentation 1.47, 12 identity switches
    # (people crossing behind the sign post). Target: events within 20%.
    assert report.walks == 19
    assert report.events_per_walk is not None and 0.8 <= report.events_per_walk <= 1.2
    assert report.fragmentation is not None and report.fragmentation <= 1.5
    assert report.identity_switches <= 14


def test_crossings_counted_by_direction(measured: tuple[VideoReport, dict]) -> None:
    report, road = measured
    # The line-scan hand count: 14 left to right, 18 right to left; measured 14 and 17.
    lines = {c.direction: (c.true, c.predicted) for c in report.lines}
    assert lines["+"][0] == 14 and abs(lines["+"][1] - 14) <= 1
    assert lines["-"][0] == 18 and abs(lines["-"][1] - 18) <= 1
    # The same counted by a doorway zone over the line, as a camera would.
    assert abs(road["entries"] - 14) <= 2 and abs(road["exits"] - 18) <= 2, road
