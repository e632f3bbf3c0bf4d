"""Drawing boxes, landmarks and labels on frames (for `--draw` and annotated video)."""

from __future__ import annotations

import cv2
import numpy as np

from vigil.vision.detector import DetectedFace

GREEN, AMBER, RED, GREY = (60, 200, 60), (0, 190, 255), (60, 60, 230), (180, 180, 180)


def _thickness(image: np.ndarray) -> int:
    return max(1, round(max(image.shape[:2]) / 500))


def draw_box(
    image: np.ndarray,
    box: tuple[float, float, float, float],
    label: str = "",
    color: tuple[int, int, int] = GREEN,
) -> None:
    """Draw a box with a label above it, in place."""
    x, y, w, h = (round(v) for v in box)
    thick = _thickness(image)
    cv2.rectangle(image, (x, y), (x + w, y + h), color, thick)
    if label:
        scale = max(0.4, thick * 0.45)
        (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
        top = max(0, y - th - base - 4)
        cv2.rectangle(image, (x, top), (x + tw + 4, top + th + base + 4), color, -1)
        cv2.putText(
            image, label, (x + 2, top + th + 2), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thick
        )


def draw_face(
    image: np.ndarray, face: DetectedFace, label: str = "", color: tuple[int, int, int] = GREEN
) -> None:
    """Draw one face in place: box, the 5 landmarks and a label."""
    draw_box(image, face.box, label, color)
    for px, py in face.landmarks:
        cv2.circle(image, (round(px), round(py)), _thickness(image) + 1, color, -1)
