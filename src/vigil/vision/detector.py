"""Face detection: the `FaceDetector` seam and its YuNet implementation."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from vigil.vision.models import YUNET


@dataclass(frozen=True)
class DetectedFace:
    """A face in image coordinates (pixels of the image given to the detector)."""

    box: tuple[float, float, float, float]  # x, y, width, height
    landmarks: np.ndarray  # 5 x 2: right eye, left eye, nose tip, right / left mouth corner
    score: float

    @property
    def short_side(self) -> float:
        return min(self.box[2], self.box[3])

    def to_dict(self) -> dict[str, object]:
        return {
            "box": [round(v, 1) for v in self.box],
            "landmarks": np.round(self.landmarks, 1).tolist(),
            "score": round(self.score, 4),
        }


class FaceDetector(Protocol):
    name: str

    def detect(self, image: np.ndarray) -> list[DetectedFace]: ...


class YuNetDetector:
    """OpenCV's YuNet. Runs on a copy scaled so the longer side is at most `max_side`.

    Small images are scaled up to `min_side` so small faces still reach the network's
    smallest anchors. One cv2 detector per thread (they are not thread-safe).
    """

    name = YUNET.name

    def __init__(
        self, score_threshold: float = 0.6, max_side: int = 640, min_side: int = 320
    ) -> None:
        self.score_threshold = score_threshold
        self.max_side = max_side
        self.min_side = min_side
        self._model_path = str(YUNET.path())
        self._local = threading.local()

    def _net(self) -> cv2.FaceDetectorYN:
        net = getattr(self._local, "net", None)
        if net is None:
            net = cv2.FaceDetectorYN.create(
                self._model_path, "", (320, 320), self.score_threshold, 0.3, 5000
            )
            self._local.net = net
        return net

    def scale_for(self, width: int, height: int) -> float:
        longest = max(width, height)
        if longest > self.max_side:
            return self.max_side / longest
        if longest < self.min_side:
            return self.min_side / longest
        return 1.0

    def detect(self, image: np.ndarray) -> list[DetectedFace]:
        h, w = image.shape[:2]
        s = self.scale_for(w, h)
        small = image
        if s != 1.0:
            interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
            small = cv2.resize(
                image, (max(1, round(w * s)), max(1, round(h * s))), interpolation=interp
            )
        net = self._net()
        net.setInputSize((small.shape[1], small.shape[0]))
        _, rows = net.detect(small)
        if rows is None:
            return []
        faces = []
        for r in rows:
            x, y, bw, bh = (float(v) / s for v in r[:4])
            faces.append(
                DetectedFace(
                    box=(x, y, bw, bh),
                    landmarks=(r[4:14].reshape(5, 2) / s).astype(np.float32),
                    score=float(r[14]),
                )
            )
        faces.sort(key=lambda f: f.box[2] * f.box[3], reverse=True)
        return faces
