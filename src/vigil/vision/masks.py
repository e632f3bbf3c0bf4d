"""Polygons given as fractions of the frame (0..1), turned into pixels and applied."""

from __future__ import annotations

import cv2
import numpy as np

Polygon = list[tuple[float, float]]


def to_pixels(polygon: Polygon, width: int, height: int) -> np.ndarray:
    return np.array([[round(x * width), round(y * height)] for x, y in polygon], np.int32)


def black_out(image: np.ndarray, polygons: list[Polygon]) -> np.ndarray:
    """A copy of the image with every polygon filled black (the original is untouched)."""
    if not polygons:
        return image
    out = image.copy()
    h, w = image.shape[:2]
    cv2.fillPoly(out, [to_pixels(p, w, h) for p in polygons], 0)
    return out
