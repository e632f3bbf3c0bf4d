"""Object detection: the `ObjectDetector` seam, NanoDet (COCO) by default, HOG as the fallback.

Detectors are run on crops around motion, never on whole idle frames (see the pipeline).

The default is NanoDet (80 COCO classes: people and vehicles), built once from an npm package
by `vision.nanodet_build`; where it has not been built, OpenCV's HOG finds people only.
ONNX models an operator supplies must be YOLO-style single-class-or-COCO detectors exported
with one input `N x 3 x H x W` (RGB, 0..1, letterboxed to H x W) and one output
`N x (4 + C) x A` (cx, cy, w, h in input pixels, then C class scores; class 0 = person),
as Ultralytics' YOLOv8/11 exports are. Nothing is downloaded: pass the file's path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from vigil.config import AnalysisConfig
from vigil.errors import VigilError

# The COCO classes Vigil reports (the 80-class models' indices).
COCO_LABELS = {0: "person", 1: "bicycle", 2: "car", 3: "motorcycle", 5: "bus", 7: "truck"}
VEHICLES = frozenset({"bicycle", "car", "motorcycle", "bus", "truck"})


@dataclass(frozen=True)
class ObjectBox:
    box: tuple[float, float, float, float]  # x, y, width, height in frame pixels
    score: float
    label: str = "person"  # a COCO_LABELS name


class ObjectDetector(Protocol):
    name: str

    def detect(self, image: np.ndarray) -> list[ObjectBox]: ...


def nms(boxes: list[ObjectBox], iou: float = 0.45) -> list[ObjectBox]:
    """Non-maximum suppression among people and among vehicles (a van found as a car and as
    a truck is one vehicle; a person beside a car is not suppressed by it)."""
    if not boxes:
        return []
    keep = cv2.dnn.NMSBoxesBatched(
        [list(map(int, b.box)) for b in boxes],
        [b.score for b in boxes],
        [int(b.label in VEHICLES) for b in boxes],
        0.0,
        iou,
    )
    return [boxes[i] for i in np.asarray(keep).ravel()]


def _box(rect: Sequence[float], scale: float) -> tuple[float, float, float, float]:
    x, y, w, h = (float(v) / scale for v in rect)
    return x, y, w, h


class HogPersonDetector:
    """OpenCV's HOG + linear SVM pedestrian detector: offline, no model file, ~upright people.

    People smaller than the 64x128 window are found by upscaling the image first.
    """

    name = "opencv-hog"

    def __init__(self, min_score: float = 0.5, upscale: float = 1.5) -> None:
        self.min_score = min_score
        self.upscale = upscale
        self._hog = cv2.HOGDescriptor()
        self._hog.setSVMDetector(
            np.asarray(cv2.HOGDescriptor.getDefaultPeopleDetector(), np.float32)
        )

    def detect(self, image: np.ndarray) -> list[ObjectBox]:
        if min(image.shape[:2]) * self.upscale < 128:
            return []  # smaller than one detection window
        big = cv2.resize(image, None, fx=self.upscale, fy=self.upscale)
        rects, weights = self._hog.detectMultiScale(
            big, winStride=(8, 8), padding=(8, 8), scale=1.05
        )
        out = [
            ObjectBox(_box(r, self.upscale), float(w))
            for r, w in zip(rects, np.ravel(weights), strict=True)
            if w >= self.min_score
        ]
        return nms(out)


class OnnxDetector:
    """A YOLO-style ONNX detector (see the module docstring) on onnxruntime: people, and with a
    COCO model (80 classes) vehicles too."""

    def __init__(
        self,
        model: Path,
        min_score: float = 0.3,
        threads: int = 1,
        labels: frozenset[str] = frozenset({"person"}),
    ) -> None:
        import onnxruntime as ort

        if not model.is_file():
            raise VigilError(f"detector model not found: {model}")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(
                str(model), opts, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise VigilError(f"cannot load detector model {model}: {exc}") from exc
        shape = self._session.get_inputs()[0].shape
        if len(shape) != 4 or not all(isinstance(d, int) for d in shape[2:]):
            raise VigilError(f"{model}: expected a fixed N x 3 x H x W input, got {shape}")
        self._input = self._session.get_inputs()[0].name
        self._size = (int(shape[3]), int(shape[2]))  # width, height
        # A square input can take a mosaic of motion regions (`vision.mosaic`).
        self.input_side = self._size[0] if self._size[0] == self._size[1] else None
        self.min_score = min_score
        self.labels = labels
        self.name = f"onnx:{model.stem}"

    def detect(self, image: np.ndarray) -> list[ObjectBox]:
        w, h = self._size
        s = min(w / image.shape[1], h / image.shape[0])
        resized = cv2.resize(image, (round(image.shape[1] * s), round(image.shape[0] * s)))
        canvas = np.full((h, w, 3), 114, np.uint8)
        canvas[: resized.shape[0], : resized.shape[1]] = resized
        blob = cv2.dnn.blobFromImage(canvas, 1 / 255.0, (w, h), swapRB=True)
        out = np.asarray(self._session.run(None, {self._input: blob})[0])[0]  # (4 + C) x A
        names = {0: "person"} if out.shape[0] == 5 else COCO_LABELS
        wanted = [c for c, name in names.items() if name in self.labels]
        scores = out[4 + np.array(wanted)]  # wanted classes x anchors
        best = scores.argmax(0)
        top = scores[best, np.arange(scores.shape[1])]
        boxes = []
        for i in np.flatnonzero(top >= self.min_score):
            cx, cy, bw, bh = (out[:4, i] / s).tolist()
            label = names[wanted[best[i]]]
            boxes.append(ObjectBox((cx - bw / 2, cy - bh / 2, bw, bh), float(top[i]), label))
        return nms(boxes)


def make_detector(
    choice: str = "auto", model: Path | None = None, labels: frozenset[str] = frozenset({"person"})
) -> ObjectDetector:
    """The detector a camera's `analysis` asks for: an operator's ONNX file, NanoDet (built by
    `make install`, see `nanodet_build`), or HOG (people only). `auto`: NanoDet when it has
    been built, else HOG."""
    from vigil.vision.nanodet_build import model_path

    if model is not None:
        return OnnxDetector(model, labels=labels)
    built = model_path()
    if choice == "nanodet" or (choice == "auto" and built.is_file()):
        if not built.is_file():
            raise VigilError(
                f"NanoDet is not built ({built} is missing)",
                hint="run `make install` or `python -m vigil.vision.nanodet_build`",
            )
        return OnnxDetector(built, labels=labels)
    return HogPersonDetector()


def detector_for(analysis: AnalysisConfig, model: Path | None = None) -> ObjectDetector:
    """A camera's detector from its `analysis` section (`model`: a command line's override)."""
    labels = {"person"} if "person" in analysis.objects else set()
    if "vehicle" in analysis.objects:
        labels |= VEHICLES
    return make_detector(analysis.detector, model or analysis.person_model, frozenset(labels))
