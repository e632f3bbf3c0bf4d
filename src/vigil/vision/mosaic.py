"""Several motion regions in one detector input: one CNN run a frame instead of one a region.

A CNN detector takes a fixed square input (NanoDet here: 352 x 352) and costs the same however
little of it holds anything. The regions where something moved are scaled by one common
factor, as large as lets them all fit (never more than `max_scale`, never less than the
factor that fits the whole frame), and laid out in rows on one canvas. Boxes found on the
canvas are mapped back to the frame by the region they fall in; a region the packing cannot
fit at the whole frame's scale means the whole frame is the input.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

Box = tuple[float, float, float, float]  # x, y, width, height
GAP = 4  # canvas pixels between regions, so a box cannot straddle two
GREY = 114  # the letterbox colour the detectors are trained with


@dataclass(frozen=True)
class Placement:
    region: tuple[int, int, int, int]  # x, y, w, h in the frame
    at: tuple[int, int]  # top left on the canvas
    scale: float

    def to_frame(self, box: Box) -> Box | None:
        """A canvas box in frame pixels, clipped to the region; None if its centre is not in it."""
        x, y, w, h = box
        ax, ay = self.at
        rw, rh = self.region[2] * self.scale, self.region[3] * self.scale
        cx, cy = x + w / 2 - ax, y + h / 2 - ay
        if not (0 <= cx < rw and 0 <= cy < rh):
            return None
        x0, y0 = max(0.0, x - ax), max(0.0, y - ay)
        x1, y1 = min(rw, x + w - ax), min(rh, y + h - ay)
        rx, ry = self.region[0], self.region[1]
        s = self.scale
        return (rx + x0 / s, ry + y0 / s, (x1 - x0) / s, (y1 - y0) / s)

    def points_to_frame(self, points: np.ndarray) -> np.ndarray:
        """Canvas points (N x 2: x, y) in frame pixels (landmarks)."""
        shift = np.array(self.at, np.float32)
        return ((points - shift) / self.scale + np.array(self.region[:2], np.float32)).astype(
            np.float32
        )


Mosaic = tuple[np.ndarray, list[Placement]]  # the canvas, where each region went


def _shelves(sizes: list[tuple[int, int]], side: int) -> list[tuple[int, int]] | None:
    """Top-left corners for rectangles laid out in rows (tallest first) on a side x side
    canvas, in the order given; None if they do not fit."""
    order = sorted(range(len(sizes)), key=lambda i: -sizes[i][1])
    corners: list[tuple[int, int]] = [(0, 0)] * len(sizes)
    x = y = row_h = 0
    for i in order:
        w, h = sizes[i]
        if w > side:
            return None
        if x + w > side:
            x, y, row_h = 0, y + row_h + GAP, 0
        if y + h > side:
            return None
        corners[i] = (x, y)
        x += w + GAP
        row_h = max(row_h, h)
    return corners


def pack(image: np.ndarray, regions: list[Box], side: int, max_scale: float = 2.0) -> Mosaic:
    """One side x side canvas holding every region at one scale (see the module docstring)."""
    fh, fw = image.shape[:2]
    rects = []
    for x, y, w, h in regions:
        x0, y0 = max(0, int(x)), max(0, int(y))
        x1, y1 = min(fw, int(np.ceil(x + w))), min(fh, int(np.ceil(y + h)))
        if x1 > x0 and y1 > y0:
            rects.append((x0, y0, x1 - x0, y1 - y0))
    whole = side / max(fw, fh)

    def layout(scale: float) -> list[tuple[int, int]] | None:
        return _shelves(
            [(max(1, round(w * scale)), max(1, round(h * scale))) for *_, w, h in rects], side
        )

    best: tuple[float, list[tuple[int, int]]] | None = None
    if rects and (corners := layout(max(whole, max_scale))) is not None:
        best = (max(whole, max_scale), corners)
    elif rects and (corners := layout(whole)) is not None:
        best, lo, hi = (whole, corners), whole, max_scale
        while hi - lo > 0.02:  # the largest scale that still fits
            mid = (lo + hi) / 2
            if (corners := layout(mid)) is not None:
                best, lo = (mid, corners), mid
            else:
                hi = mid
    canvas = np.full((side, side, 3), GREY, np.uint8)
    if best is None:  # the regions do not fit better than the whole frame does
        rects, s = [(0, 0, fw, fh)], whole
        corners = [(0, 0)]
    else:
        s, corners = best
    placements = []
    for rect, (cx, cy) in zip(rects, corners, strict=True):
        x, y, w, h = rect
        tw, th = min(side - cx, max(1, round(w * s))), min(side - cy, max(1, round(h * s)))
        canvas[cy : cy + th, cx : cx + tw] = cv2.resize(image[y : y + h, x : x + w], (tw, th))
        placements.append(Placement(rect, (cx, cy), s))
    return canvas, placements
