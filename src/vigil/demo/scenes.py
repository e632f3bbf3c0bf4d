"""Generated scenes with exact truth, for measuring what zones report.

`factory_scene(path, vtest)` writes a 640x360, 10 fps, 180 s clip (a few seconds to encode):
- a machine on the left: four spokes turn inside a housing while it runs and stand still while
  it is stopped; it runs over `FactoryScene.running`;
- a doorway on the right (a door frame, walls either side): a worker walks through it, in
  (left to right) and out again, at the times in `FactoryScene.crossings`. The worker is a real
  pedestrian cut from `vtest.avi` (the test data footage, `vigil.demo.testdata`), so the person
  detector finds them as it would a person on a real camera.

Everything is drawn from fixed numbers: the same call writes the same frames. The zones that
fit the scene (`FactoryScene.zones()`) go into a camera's `zones:` in vigil.yaml.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

WIDTH, HEIGHT, FPS, SECONDS = 640, 360, 10, 180.0
RUNNING = ((0.0, 40.0), (70.0, 120.0), (150.0, 170.0))
# (time the worker's feet pass the middle of the doorway, direction); in = left to right
CROSSINGS = ((25.0, "in"), (85.0, "out"), (135.0, "in"))
WALK_PX_S = 60.0  # walking speed, pixels a second
DOOR_X = (400, 480)  # the door opening, pixels
MACHINE_BOX = (40, 70, 220, 250)  # x0, y0, x1, y1 of the housing
PERSON_FRAME = 700  # vtest.avi frame and box of the pedestrian used as the worker
PERSON_BOX = (497, 138, 70, 125)
PERSON_SCALE = 1.25
FEET_Y = 340  # where the worker's feet are in the scene


@dataclass(frozen=True)
class FactoryScene:
    path: Path
    seconds: float
    running: tuple[tuple[float, float], ...]  # machine running spans, seconds from the start
    crossings: tuple[tuple[float, str], ...]  # (time at the doorway's middle, "in" | "out")

    @property
    def idle(self) -> list[tuple[float, float]]:
        """The machine's idle spans: everything between the running spans."""
        out, at = [], 0.0
        for start, end in self.running:
            if start > at:
                out.append((at, start))
            at = end
        if at < self.seconds:
            out.append((at, self.seconds))
        return out

    @staticmethod
    def zones() -> list[dict[str, object]]:
        """The scene's zones as vigil.yaml writes them (defaults otherwise)."""
        x0, y0, x1, y1 = MACHINE_BOX
        return [
            {
                "name": "press",
                "kind": "machine",
                "polygon": _fractions([(x0, y0), (x1, y0), (x1, y1), (x0, y1)]),
            },
            {
                "name": "door",
                "kind": "doorway",
                "inward": "right",
                "polygon": _fractions([(380, 150), (500, 150), (500, 359), (380, 359)]),
            },
        ]


def _fractions(points: list[tuple[int, int]]) -> list[list[float]]:
    return [[round(x / WIDTH, 4), round(y / HEIGHT, 4)] for x, y in points]


def worker_crop(vtest: Path) -> np.ndarray:
    """The pedestrian of `PERSON_FRAME` in vtest.avi, scaled up a little."""
    cap = cv2.VideoCapture(str(vtest))
    try:
        cap.set(cv2.CAP_PROP_POS_FRAMES, PERSON_FRAME)
        ok, frame = cap.read()
    finally:
        cap.release()
    if not ok:
        raise ValueError(f"{vtest}: cannot read frame {PERSON_FRAME}")
    x, y, w, h = PERSON_BOX
    crop = frame[y : y + h, x : x + w]
    return cv2.resize(crop, None, fx=PERSON_SCALE, fy=PERSON_SCALE, interpolation=cv2.INTER_LINEAR)


def _background() -> np.ndarray:
    rng = np.random.default_rng(14)
    img = cv2.GaussianBlur(rng.integers(90, 120, (HEIGHT, WIDTH, 3), np.uint8), (0, 0), 3)
    img[: HEIGHT // 3] = (img[: HEIGHT // 3] * 0.8).astype(np.uint8)  # the back wall
    x0, y0, x1, y1 = MACHINE_BOX
    cv2.rectangle(img, (x0, y0), (x1, y1), (60, 70, 80), -1)  # the housing
    cv2.rectangle(img, (x0, y0), (x1, y1), (30, 30, 30), 4)
    d0, d1 = DOOR_X
    cv2.rectangle(img, (d0 - 12, 40), (d0, FEET_Y + 5), (50, 60, 90), -1)  # door frame
    cv2.rectangle(img, (d1, 40), (d1 + 12, FEET_Y + 5), (50, 60, 90), -1)
    cv2.rectangle(img, (d0 - 12, 28), (d1 + 12, 40), (50, 60, 90), -1)
    return img


def _running(t: float) -> bool:
    return any(start <= t < end for start, end in RUNNING)


def _walk_x(t: float) -> float | None:
    """The worker's centre x at time t (None: not in the picture)."""
    middle = (DOOR_X[0] + DOOR_X[1]) / 2
    for at, direction in CROSSINGS:
        dt = t - at
        x = middle + (dt if direction == "in" else -dt) * WALK_PX_S
        if 300 <= x <= 590:
            return x
    return None


def factory_scene(path: Path, vtest: Path) -> FactoryScene:
    """Write the factory clip to `path` (MP4, H.264) and return it with its truth."""
    from vigil.vision.video import Mp4Writer

    person = worker_crop(vtest)
    ph, pw = person.shape[:2]
    background = _background()
    x0, y0, x1, y1 = MACHINE_BOX
    cx, cy, arm = (x0 + x1) // 2, (y0 + y1) // 2, (x1 - x0) // 2 - 15
    angle = 0.0
    with Mp4Writer(path, FPS) as out:
        for i in range(int(SECONDS * FPS)):
            t = i / FPS
            img = background.copy()
            if _running(t):
                angle += 0.35  # radians a frame
            for k in range(4):
                a = angle + k * np.pi / 2
                end = (int(cx + arm * np.cos(a)), int(cy + arm * np.sin(a)))
                cv2.line(img, (cx, cy), end, (40, 160, 230), 12)
            x = _walk_x(t)
            if x is not None:
                left, top = round(x - pw / 2), FEET_Y - ph
                img[top : top + ph, left : left + pw] = person
            out.write(img)
    return FactoryScene(path, SECONDS, RUNNING, CROSSINGS)
