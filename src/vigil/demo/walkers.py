"""A street scene with exact truth, for `vigil eval video` (tests, `python -m vigil.demo.walkers`).

Built from OpenCV's vtest.avi (`vigil.demo.testdata`): the empty street (the median of its
frames) with four people cut out of its frames (the foreground inside a HOG detection, so
pedestrians of the size the pipeline finds) pasted at known positions, 768x576 like vtest,
10 fps, 14 s:

- `down` walks down the picture and crosses the line `street` (y = 0.5) one way ('+');
- `up` walks up the other side and crosses it the other way ('-');
- `left` and `right` walk side by side, 6 px apart, across the picture;
- at 7 s the light changes over the whole picture (everything 30% brighter), while `up` and
  the pair are in view.

People appear and vanish inside the picture (no half-visible people at the edges), so the truth
is exact: each box is the bounding box of the pasted person's pixels. Deterministic.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

WIDTH, HEIGHT, FPS, SECONDS = 768, 576, 10, 14.0
LIGHT_CHANGE_S = 7.0
LINE: dict[str, Any] = {"name": "street", "a": [0.0, 0.5], "b": [1.0, 0.5]}
# Where to cut each person from vtest.avi: frame number and the region around them (x, y, w,
# h; a HOG detection there, grown a little). Picked by looking: one person each, upright.
CUTS = {
    "down": (400, (570, 108, 66, 119)),
    "up": (200, (470, 125, 64, 116)),
    "left": (100, (568, 127, 71, 130)),
    "right": (500, (300, 178, 50, 106)),
}


@dataclass(frozen=True)
class Walker:
    name: str
    start: float  # seconds
    end: float
    p0: tuple[float, float]  # top-left of the person's box at start, pixels
    p1: tuple[float, float]  # ... at end

    def at(self, t: float) -> tuple[int, int] | None:
        if not self.start <= t <= self.end:
            return None
        f = (t - self.start) / (self.end - self.start)
        return (
            round(self.p0[0] + f * (self.p1[0] - self.p0[0])),
            round(self.p0[1] + f * (self.p1[1] - self.p0[1])),
        )


WALKERS = (
    Walker("down", 0.5, 5.5, (150, 150), (170, 430)),
    Walker("up", 3.0, 8.5, (600, 440), (560, 150)),
    Walker("left", 6.0, 12.5, (60, 110), (520, 120)),
    Walker("right", 6.0, 12.5, (60 + 1000, 110), (520 + 1000, 120)),  # placed beside `left`
)


def _frames(
    video: Path, wanted: set[int], every: int = 10
) -> tuple[dict[int, np.ndarray], np.ndarray]:
    """The wanted frames and the empty street (median of every `every`th frame)."""
    cap = cv2.VideoCapture(str(video))
    got: dict[int, np.ndarray] = {}
    sample = []
    i = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        if i in wanted:
            got[i] = frame
        if i % every == 0:
            sample.append(frame)
        i += 1
    cap.release()
    if not sample or set(got) != wanted:
        raise RuntimeError(f"{video}: cannot read the frames {sorted(wanted - set(got))}")
    return got, np.median(np.stack(sample), axis=0).astype(np.uint8)


def _cutout(
    frame: np.ndarray, empty: np.ndarray, region: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """The person in `region`: pixels and a mask (their largest foreground blob), cropped to
    the mask's bounding box."""
    x, y, w, h = region
    crop, bg = frame[y : y + h, x : x + w], empty[y : y + h, x : x + w]
    diff = cv2.absdiff(crop, bg).max(axis=2)
    mask = (diff > 28).astype(np.uint8)
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    _, labels, stats, _ = cv2.connectedComponentsWithStats(mask)
    biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    mask = (labels == biggest).astype(np.uint8)
    mask[:, mask.sum(axis=0) < 6] = 0  # thin things beside the person (barrier tape)
    ys, xs = np.nonzero(mask)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    return crop[y0:y1, x0:x1].copy(), mask[y0:y1, x0:x1]


def make_walkers(vtest: Path, out_dir: Path) -> tuple[Path, Path]:
    """Write `walkers.mp4` and `walkers-truth.json` (docs/eval-truth.md) into out_dir."""
    from vigil.vision.video import Mp4Writer

    frames, empty = _frames(vtest, {n for n, _ in CUTS.values()})
    people = {name: _cutout(frames[n], empty, region) for name, (n, region) in CUTS.items()}
    walkers = list(WALKERS)
    # The pair walks side by side: `right` follows `left` at its width plus a 6 px gap.
    left, right = walkers[2], walkers[3]
    gap = people["left"][0].shape[1] + 6
    walkers[3] = Walker(
        right.name,
        left.start,
        left.end,
        (left.p0[0] + gap, left.p0[1]),
        (left.p1[0] + gap, left.p1[1]),
    )
    line_y = LINE["a"][1] * HEIGHT
    key_frames = []
    seen: dict[str, list[tuple[float, float]]] = {w.name: [] for w in walkers}  # t, feet y
    out_dir.mkdir(parents=True, exist_ok=True)
    clip = out_dir / "walkers.mp4"
    with Mp4Writer(clip, FPS) as out:
        for n in range(int(SECONDS * FPS)):
            t = n / FPS
            img = empty.copy()
            objects = []
            for w in walkers:
                at = w.at(t)
                if at is None:
                    continue
                pixels, mask = people[w.name]
                x, y = at
                h, wd = mask.shape
                region = img[y : y + h, x : x + wd]
                region[mask > 0] = pixels[mask > 0]
                objects.append({"kind": "person", "box": [x, y, wd, h], "track": w.name})
                seen[w.name].append((t, y + h))
            if t >= LIGHT_CHANGE_S:
                img = cv2.convertScaleAbs(img, alpha=1.3, beta=0)
            out.write(img)
            if objects:
                key_frames.append({"frame": n, "objects": objects})
    walks = []
    for w in walkers:
        feet = seen[w.name]
        before, after = feet[0][1] > line_y, feet[-1][1] > line_y
        crossings = {} if before == after else {LINE["name"]: "+" if after else "-"}
        walks.append(
            {"track": w.name, "entry": feet[0][0], "exit": feet[-1][0], "crossings": crossings}
        )
    truth = {
        "width": WIDTH,
        "height": HEIGHT,
        "fps": FPS,
        "frames": key_frames,
        "lines": [LINE],
        "walks": walks,
        "zones": [],
    }
    truth_path = out_dir / "walkers-truth.json"
    truth_path.write_text(json.dumps(truth, indent=1), encoding="utf-8")
    return clip, truth_path


def main(argv: list[str] | None = None) -> int:
    """`python -m vigil.demo.walkers OUT_DIR`: the scene from the test data cache's vtest.avi."""
    from vigil.demo import testdata

    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0] if args else ".")
    clip, truth = make_walkers(testdata.ensure() / "video" / "vtest.avi", out)
    print(clip, truth)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
