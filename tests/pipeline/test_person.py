"""Detectors: NanoDet and HOG find vtest.avi's pedestrians; the ONNX seam decodes YOLO output."""

from __future__ import annotations

import itertools
from pathlib import Path

import av
import numpy as np
import pytest

from vigil.config import AnalysisConfig
from vigil.errors import VigilError
from vigil.vision.person import VEHICLES, HogPersonDetector, OnnxDetector, detector_for


def frame_of(video: Path, index: int) -> np.ndarray:
    with av.open(str(video)) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i == index:
                return f.to_ndarray(format="bgr24")
    raise AssertionError("video too short")


def test_hog_finds_pedestrians(testdata: Path) -> None:
    frame = frame_of(testdata / "video" / "vtest.avi", 100)  # 7 people on the path
    people = HogPersonDetector().detect(frame)
    assert 4 <= len(people) <= 10
    for p in people:
        _, _, w, h = p.box
        assert h > w and 40 < h < 200  # upright, pedestrian-sized
    assert HogPersonDetector().detect(np.zeros((50, 50, 3), np.uint8)) == []


def test_onnx_person_model_output_is_decoded(tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    # A stand-in "YOLO" whose output is fixed: one person box (cx 32, cy 32, 16 x 32 in the
    # 64x64 input) with score 0.9, and one anchor below the score threshold.
    fixed = np.zeros((1, 5, 2), np.float32)
    fixed[0, :, 0] = [32, 32, 16, 32, 0.9]
    fixed[0, :, 1] = [10, 10, 5, 5, 0.1]
    graph = helper.make_graph(
        [
            helper.make_node("ReduceMean", ["x"], ["m"], keepdims=0),
            helper.make_node("Mul", ["m", "zero"], ["z"]),
            helper.make_node("Add", ["out", "z"], ["y"]),
        ],
        "fake-yolo",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 64, 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 5, 2])],
        [numpy_helper.from_array(fixed, "out"), numpy_helper.from_array(np.float32(0), "zero")],
    )
    path = tmp_path / "fake.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    det = OnnxDetector(path)
    people = det.detect(np.zeros((128, 256, 3), np.uint8))  # letterboxed at scale 1/4
    assert len(people) == 1
    x, y, w, h = people[0].box
    assert (x, y, w, h) == (96.0, 64.0, 64.0, 128.0) and people[0].score > 0.89


def test_nanodet_finds_people_apart_and_vehicles(testdata: Path, nanodet: Path) -> None:
    frame = frame_of(testdata / "video" / "vtest.avi", 100)
    people = OnnxDetector(nanodet, min_score=0.35).detect(frame)
    # Frame 100: the woman in black and the man beside her, the couple, the man on the right,
    # the distant walker top left (HOG merges the first two into one box); maybe a cone.
    assert 6 <= len(people) <= 7
    assert all(p.label == "person" and p.box[3] > p.box[2] for p in people)
    centres = sorted((x + w / 2, y + h / 2) for x, y, w, h in (p.box for p in people))
    assert all(abs(a[0] - b[0]) + abs(a[1] - b[1]) > 10 for a, b in itertools.pairwise(centres))
    both = OnnxDetector(nanodet, labels=frozenset({"person"} | VEHICLES)).detect(frame)
    vehicles = [b for b in both if b.label in VEHICLES]
    assert any(b.box[2] > 60 for b in vehicles)  # the white van


def test_detector_choice(nanodet: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("VIGIL_MODELS", str(nanodet.parent))
    assert detector_for(AnalysisConfig()).name == "onnx:nanodet-g-352"
    assert detector_for(AnalysisConfig(detector="hog")).name == "opencv-hog"
    monkeypatch.setenv("VIGIL_MODELS", str(tmp_path))  # never built here
    assert detector_for(AnalysisConfig()).name == "opencv-hog"
    with pytest.raises(VigilError, match="NanoDet is not built"):
        detector_for(AnalysisConfig(detector="nanodet"))
