"""Alignment: warp a face so its 5 landmarks land on the embedder's canonical positions.

The warp is the least-squares similarity (rotation, one scale, shift) of all five points
(Umeyama's closed form). It gives the same crops as OpenCV's `FaceRecognizerSF.alignCrop` (a
mean difference under 0.001 grey levels) and, unlike a robust fit that trusts a subset of the
points, does not swing with one landmark's error at 30 px faces (decision 0073).
"""

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


def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray | None:
    """The 2x3 similarity matrix taking `src` points closest to `dst` (least squares), or
    None when the source points are degenerate (all on one spot)."""
    s, d = src.astype(np.float64), dst.astype(np.float64)
    s_mean, d_mean = s.mean(axis=0), d.mean(axis=0)
    s0, d0 = s - s_mean, d - d_mean
    spread = float((s0**2).sum(axis=1).mean())
    if spread < 1e-9:
        return None
    u, sv, vt = np.linalg.svd(d0.T @ s0 / len(s))
    flip = np.diag([1.0, -1.0 if np.linalg.det(u) * np.linalg.det(vt) < 0 else 1.0])
    rotation = u @ flip @ vt
    scale = float(np.trace(np.diag(sv) @ flip)) / spread
    matrix = np.empty((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = d_mean - scale * rotation @ s_mean
    return matrix


def align_face(image: np.ndarray, landmarks: np.ndarray, size: int = CROP_SIZE) -> np.ndarray:
    """Return a size x size BGR crop, aligned by a similarity transform (rotate, scale, shift)."""
    target = CANONICAL_112 * (size / CROP_SIZE)
    matrix = similarity(landmarks, target)
    if matrix is None:  # degenerate landmarks (all on one point): fall back to scaling the box
        x0, y0 = landmarks.min(axis=0)
        x1, y1 = landmarks.max(axis=0)
        scale = size / max(float(x1 - x0), float(y1 - y0), 1.0) * 0.5
        matrix = np.array([[scale, 0, -x0 * scale], [0, scale, -y0 * scale]], dtype=np.float32)
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR)
