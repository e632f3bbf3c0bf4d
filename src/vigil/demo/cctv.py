"""Faces as a ceiling camera's sub-stream shows them, made from the test photos.

Each clean portrait of the test data (`vigil.demo.testdata`) is scaled so the face is `width`
pixels wide (48 and 32: what a 640x360 sub-stream shows of someone a few metres away),
softened by a slight Gaussian blur, placed in a 640x360 frame and saved as JPEG quality 35.
The pairs put a clean photo (as enrolled) beside a degraded frame of another photo: same
person or not, and the face width in a `group` column so `vigil eval pairs` reports each width.
Everything is fixed (seeds, positions, transforms): the same files every run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vigil.demo.testdata import BOX, another_photo, portrait
from vigil.faces.evaluation import Pair, write_pairs

WIDTHS = (48, 32)
FRAME_W, FRAME_H = 640, 360
BLUR_SIGMA = 0.7
JPEG_QUALITY = 35
PORTRAIT_SIDE = 400
ZOOM = 2.2  # `portrait`: the face is 1/ZOOM of the picture's height
# How a second and third photo are made where packages ship one: mirror, angle, gain, bias.
_OTHER_PHOTOS = ((True, 6.0, 0.85, 8.0), (False, -9.0, 1.1, -6.0))


@dataclass(frozen=True)
class Source:
    person: str
    name: str
    image: np.ndarray  # a PORTRAIT_SIDE square portrait
    face_w: float  # the face's width in it, pixels


def _portrait(faces: Path, file: str) -> tuple[np.ndarray, float]:
    image = cv2.imread(str(faces / file))
    if image is None:
        raise OSError(f"cannot read {faces / file}")
    _, _, w, h = BOX[file]
    return portrait(image, BOX[file], PORTRAIT_SIDE, ZOOM), w * PORTRAIT_SIDE / (h * ZOOM)


def sources(faces: Path) -> list[Source]:
    """Three photos a person: Obama's three real ones; Biden and Eileen Collins have one each
    in the packages, so two more are `another_photo` of it (turned, relit, mirrored)."""
    out = []
    for n, file in enumerate(("obama.jpg", "obama2.jpg", "obama3.jpg")):
        image, w = _portrait(faces, file)
        out.append(Source("obama", f"obama{n + 1}", image, w))
    for person, file in (("biden", "biden.jpg"), ("eileen_collins", "astronaut.png")):
        image, w = _portrait(faces, file)
        out.append(Source(person, f"{person}1", image, w))
        for k, (mirror, angle, gain, bias) in enumerate(_OTHER_PHOTOS):
            seed = 10 * len(out) + k
            other = another_photo(
                image, mirror=mirror, angle=angle, gain=gain, bias=bias, seed=seed
            )
            out.append(Source(person, f"{person}{k + 2}", other, w))
    return out


def degrade(source: Source, width: int, seed: int) -> np.ndarray:
    """The source's face `width` px wide in a 640x360 frame, blurred; JPEG is applied on save."""
    rng = np.random.default_rng(seed)
    scale = width / source.face_w
    side = max(8, round(PORTRAIT_SIDE * scale))
    small = cv2.resize(source.image, (side, side), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), BLUR_SIGMA)
    # A dim, textured background: a flat wall with sensor noise.
    frame = np.clip(rng.normal(90, 6, (FRAME_H, FRAME_W, 3)), 0, 255).astype(np.uint8)
    x = int(rng.integers(20, FRAME_W - side - 20))
    y = int(rng.integers(10, FRAME_H - side - 10))
    frame[y : y + side, x : x + side] = small
    return frame


def write(faces: Path, out: Path, widths: tuple[int, ...] = WIDTHS, per_photo: int = 2) -> Path:
    """Write the clean photos, the degraded frames and `pairs.csv` under `out`; its path."""
    out.mkdir(parents=True, exist_ok=True)
    srcs = sources(faces)
    clean: dict[str, Path] = {}
    for s in srcs:
        clean[s.name] = out / "clean" / f"{s.name}.jpg"
        _save(clean[s.name], s.image, 92)
    pairs: list[Pair] = []
    for width in widths:
        for i, s in enumerate(srcs):
            for v in range(per_photo):
                probe = out / f"{width}px" / f"{s.name}_{v}.jpg"
                _save(probe, degrade(s, width, seed=1000 * width + 10 * i + v), JPEG_QUALITY)
                for other in srcs:
                    if other.name != s.name:
                        same = other.person == s.person
                        pairs.append(Pair(clean[other.name], probe, same, f"{width}px"))
    path = out / "pairs.csv"
    write_pairs(pairs, path)
    return path


def small_set(faces: Path, out: Path) -> Path:
    """A fixed subset for fast tests: one frame a photo at each width."""
    return write(faces, out, per_photo=1)


def _save(path: Path, image: np.ndarray, quality: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, quality]):
        raise OSError(f"cannot write {path}")
