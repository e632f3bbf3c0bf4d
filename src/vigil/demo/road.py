"""A road entrance with exact truth: vehicles through a gate both ways, for vehicle events and
counts (`road_scene(path, vtest)`; tests, `vigil eval`).

640x360, 10 fps, 60 s: a road across the picture with a gate (a doorway zone over the road,
`in` = left to right). The vehicles are the white van and the small car parked in
`vtest.avi` (the test data footage), cut out with a little road around them and doubled in
size, so the detector finds them as it would on a real camera; a vehicle driving right to left
is mirrored to face its way. They pass the gate's middle at the times in `PASSES`, one at a
time; a pedestrian from vtest.avi walks along the pavement meanwhile and must not be counted.
Everything is drawn from fixed numbers: the same call writes the same frames.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

WIDTH, HEIGHT, FPS, SECONDS = 640, 360, 10, 60.0
# vtest.avi frame 0: the parked van and car, with some road around them (x, y, w, h)
CUTOUTS = {"van": (644, 40, 84, 64), "car": (731, 48, 37, 50)}
SCALE = 2.0
# (time the vehicle's middle passes the gate's middle, direction, vehicle); in = left to right
PASSES = ((10.0, "in", "van"), (22.0, "out", "car"), (34.0, "in", "car"), (46.0, "out", "van"))
SPEED_PX_S = 90.0
GATE_X = (290, 350)
ROAD = (150, 290)  # top and bottom of the road, pixels
WHEELS_Y = 270  # where the vehicles' bottoms are
WALKER_FRAME, WALKER_BOX = 700, (497, 138, 70, 125)  # a pedestrian of vtest.avi
WALKER_Y = 350  # their feet, on the pavement below the road


@dataclass(frozen=True)
class RoadScene:
    path: Path
    seconds: float
    passes: tuple[tuple[float, str, str], ...]  # (time at the gate's middle, in|out, vehicle)

    @staticmethod
    def zones() -> list[dict[str, object]]:
        """The gate as vigil.yaml writes it: a doorway counting vehicles."""
        x0, x1 = GATE_X
        y0, y1 = ROAD
        points = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
        return [
            {
                "name": "gate",
                "kind": "doorway",
                "inward": "right",
                "objects": ["vehicle"],
                "polygon": [[round(x / WIDTH, 4), round(y / HEIGHT, 4)] for x, y in points],
            }
        ]


def _frame_of(vtest: Path, index: int) -> np.ndarray:
    cap = cv2.VideoCapture(str(vtest))
    try:
        cap.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, frame = cap.read()
    finally:
        cap.release()
    if not ok:
        raise ValueError(f"{vtest}: cannot read frame {index}")
    return frame


def _background() -> np.ndarray:
    rng = np.random.default_rng(7)
    img = cv2.GaussianBlur(rng.integers(70, 110, (HEIGHT, WIDTH, 3), np.uint8), (0, 0), 3)
    img[:, :] = (img * np.array([0.6, 1.1, 0.7])).clip(0, 255).astype(np.uint8)  # verges
    top, bottom = ROAD
    img[top:bottom] = cv2.GaussianBlur(
        rng.integers(90, 105, (bottom - top, WIDTH, 3), np.uint8), (0, 0), 2
    )
    img[bottom : bottom + 8] = (170, 170, 170)  # kerb
    for x in range(0, WIDTH, 60):  # the centre line
        cv2.line(img, (x, (top + bottom) // 2), (x + 30, (top + bottom) // 2), (220, 220, 220), 3)
    x0, x1 = GATE_X
    for x in (x0 - 8, x1):  # gate posts either side of the road
        cv2.rectangle(img, (x, top - 40), (x + 8, top), (40, 50, 120), -1)
    return img


def _paste(img: np.ndarray, sprite: np.ndarray, left: int, top: int) -> None:
    """`sprite` at (left, top), cut where it leaves the picture."""
    h, w = sprite.shape[:2]
    x0, y0 = max(0, left), max(0, top)
    x1, y1 = min(WIDTH, left + w), min(HEIGHT, top + h)
    if x1 > x0 and y1 > y0:
        img[y0:y1, x0:x1] = sprite[y0 - top : y1 - top, x0 - left : x1 - left]


def road_scene(path: Path, vtest: Path) -> RoadScene:
    """Write the road clip to `path` (MP4, H.264) and return it with its truth."""
    from vigil.vision.video import Mp4Writer

    frame = _frame_of(vtest, 0)
    sprites = {}
    for name, (x, y, w, h) in CUTOUTS.items():
        crop = cv2.resize(frame[y : y + h, x : x + w], None, fx=SCALE, fy=SCALE)
        sprites[name, "in"], sprites[name, "out"] = crop, crop[:, ::-1].copy()
    x, y, w, h = WALKER_BOX
    walker = _frame_of(vtest, WALKER_FRAME)[y : y + h, x : x + w]
    background = _background()
    middle = sum(GATE_X) / 2
    with Mp4Writer(path, FPS) as out:
        for i in range(int(SECONDS * FPS)):
            t = i / FPS
            img = background.copy()
            for at, direction, name in PASSES:
                sprite = sprites[name, direction]
                sh, sw = sprite.shape[:2]
                centre = middle + (t - at) * SPEED_PX_S * (1 if direction == "in" else -1)
                if -sw < centre < WIDTH + sw:
                    _paste(img, sprite, round(centre - sw / 2), WHEELS_Y - sh)
            walker_x = round(40 + 8 * t) % (WIDTH - w)  # a slow stroll, left to right
            _paste(img, walker, walker_x, WALKER_Y - h)
            out.write(img)
    return RoadScene(path, SECONDS, PASSES)
