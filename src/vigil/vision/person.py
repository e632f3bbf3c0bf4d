"""Person detection: the `PersonDetector` seam, OpenCV's HOG default, and an ONNX option.

Detectors are run on crops around motion, never on whole idle frames (see the pipeline).

ONNX models an operator supplies must be YOLO-style single-class-or-COCO detectors exported
with one input `N x 3 x H x W` (RGB, 0..1, letterboxed to H x W) and one output
`N x (4 + C) x A` (cx, cy, w, h in input pixels, then C class scores; class 0 = person),
as Ultralytics' YOLOv8/11 exports are. Nothing is downloaded: pass the file's path.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from vigil.errors import VigilError


@dataclass(frozen=True)
class PersonBox:
    box: tuple[float, float, float, float]  # x, y, width, height in frame pixels
    score: float


class PersonDetector(Protocol):
    name: str

    def detect(self, image: np.ndarray) -> list[PersonBox]: ...


def nms(boxes: list[PersonBox], iou: float = 0.45) -> list[PersonBox]:
    if not boxes:
        return []
    keep = cv2.dnn.NMSBoxes(
        [list(map(int, b.box)) for b in boxes], [b.score for b in boxes], 0.0, iou
    )
    return [boxes[i] for i in np.asarray(keep).ravel()]


class HogPersonDetector:
    """OpenCV's HOG + linear SVM pedestrian detector: offline, no model file, ~upright people.

    People smaller than the 64x128 window are found by upscaling the image first.
    """

    name = "opencv-hog"

    def __init__(self, min_score: float = 0.5, upscale: float = 1.5) -> None:
        self.min_score = min_score
        self.upscale = upscale
        self._hog = cv2.HOGDescriptor()
        self._hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())

    def detect(self, image: np.ndarray) -> list[PersonBox]:
        if min(image.shape[:2]) * self.upscale < 128:
            return []  # smaller than one detection window
        big = cv2.resize(image, None, fx=self.upscale, fy=self.upscale)
        rects, weights = self._hog.detectMultiScale(
            big, winStride=(8, 8), padding=(8, 8), scale=1.05
        )
        out = [
            PersonBox(tuple(float(v) / self.upscale for v in r), float(w))
            for r, w in zip(rects, np.ravel(weights), strict=True)
            if w >= self.min_score
        ]
        return nms(out)


class OnnxPersonDetector:
    """A YOLO-style ONNX detector (see the module docstring) on onnxruntime."""

    def __init__(self, model: Path, min_score: float = 0.4, threads: int = 1) -> None:
        import onnxruntime as ort

        if not model.is_file():
            raise VigilError(f"person model not found: {model}")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(
                str(model), opts, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise VigilError(f"cannot load person model {model}: {exc}") from exc
        shape = self._session.get_inputs()[0].shape
        if len(shape) != 4 or not all(isinstance(d, int) for d in shape[2:]):
            raise VigilError(f"{model}: expected a fixed N x 3 x H x W input, got {shape}")
        self._input = self._session.get_inputs()[0].name
        self._size = (int(shape[3]), int(shape[2]))  # width, height
        self.min_score = min_score
        self.name = f"onnx:{model.stem}"

    def detect(self, image: np.ndarray) -> list[PersonBox]:
        w, h = self._size
        s = min(w / image.shape[1], h / image.shape[0])
        resized = cv2.resize(image, (round(image.shape[1] * s), round(image.shape[0] * s)))
        canvas = np.full((h, w, 3), 114, np.uint8)
        canvas[: resized.shape[0], : resized.shape[1]] = resized
        blob = cv2.dnn.blobFromImage(canvas, 1 / 255.0, (w, h), swapRB=True)
        out = np.asarray(self._session.run(None, {self._input: blob})[0])[0]  # (4 + C) x A
        scores = out[4]  # class 0: person
        boxes = []
        for i in np.flatnonzero(scores >= self.min_score):
            cx, cy, bw, bh = out[:4, i] / s
            boxes.append(PersonBox((cx - bw / 2, cy - bh / 2, bw, bh), float(scores[i])))
        return nms(boxes)


def make_person_detector(model: Path | None) -> PersonDetector:
    return OnnxPersonDetector(model) if model else HogPersonDetector()
