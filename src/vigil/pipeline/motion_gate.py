"""The motion gate of the analysis pipeline: where did something move in this frame?

Background subtraction (OpenCV MOG2) on a small grey copy of the frame; regions are the
bounding boxes of changed blobs, mapped back to frame pixels. Motion masks (polygons where
motion is ignored, e.g. a swaying tree) are applied to the foreground.
"""

from __future__ import annotations

import cv2
import numpy as np

from vigil.pipeline.tracker import Box
from vigil.vision.masks import Polygon, to_pixels


class MotionGate:
    def __init__(
        self,
        sensitivity: float = 0.5,
        masks: list[Polygon] | None = None,
        width: int = 320,
        warmup_frames: int = 5,
    ) -> None:
        self.width = width
        self.masks = masks or []
        # sensitivity 0..1 -> smallest blob 2% .. 0.02% of the frame, variance threshold 48 .. 8
        self.min_area_share = 0.02 * (0.01**sensitivity)
        self._bg = cv2.createBackgroundSubtractorMOG2(
            history=100, varThreshold=48 - 40 * sensitivity, detectShadows=False
        )
        self._warmup = warmup_frames
        self._keep: np.ndarray | None = None  # 255 where motion counts
        self._kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))

    def regions(self, image: np.ndarray) -> list[Box]:
        h, w = image.shape[:2]
        scale = self.width / w
        small = cv2.resize(image, (self.width, max(1, round(h * scale))), cv2.INTER_AREA)
        gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY) if small.ndim == 3 else small
        gray = cv2.GaussianBlur(gray, (5, 5), 0)
        fg = self._bg.apply(gray)
        if self._warmup > 0:  # the model needs a few frames before it knows the background
            self._warmup -= 1
            return []
        if self.masks:
            if self._keep is None or self._keep.shape != fg.shape:
                self._keep = np.full(fg.shape, 255, np.uint8)
                sh, sw = fg.shape
                cv2.fillPoly(self._keep, [to_pixels(p, sw, sh) for p in self.masks], 0)
            fg = cv2.bitwise_and(fg, self._keep)
        fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, self._kernel)
        fg = cv2.dilate(fg, self._kernel, iterations=2)
        n, _, stats, _ = cv2.connectedComponentsWithStats(fg)
        min_area = self.min_area_share * fg.size
        return [
            (x / scale, y / scale, bw / scale, bh / scale)
            for x, y, bw, bh, area in stats[1:n]
            if area >= min_area
        ]
