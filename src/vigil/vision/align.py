"""Alignment: warp a face so its 5 landmarks land on the embedder's canonical positions."""

from __future__ import annotations

import cv2
import numpy as np

CROP_SIZE = 112
# Canonical 5-point positions in a 112x112 crop (eyes, nose tip, mouth corners), the layout
# that ArcFace-family embedders such as SFace were trained on.
CANONICAL_112 = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float32,
)


def align_face(image: np.ndarray, landmarks: np.ndarray, size: int = CROP_SIZE) -> np.ndarray:
    """Return a size x size BGR crop, aligned by a similarity transform (rotate, scale, shift)."""
    target = CANONICAL_112 * (size / CROP_SIZE)
    matrix, _ = cv2.estimateAffinePartial2D(landmarks.astype(np.float32), target, method=cv2.LMEDS)
    if matrix is None:  # degenerate landmarks (all on one point): fall back to scaling the box
        x0, y0 = landmarks.min(axis=0)
        x1, y1 = landmarks.max(axis=0)
        scale = size / max(float(x1 - x0), float(y1 - y0), 1.0) * 0.5
        matrix = np.array([[scale, 0, -x0 * scale], [0, scale, -y0 * scale]], dtype=np.float32)
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR)
