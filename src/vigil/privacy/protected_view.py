"""Privacy-protected viewing (issue 7): people pixelated for protected roles, audited unmasking.

- `protect_frame(image, people)`: a copy with every box (moving foreground, person and face
  boxes) pixelated. `people=None` means "not known" and pixelates the whole frame: a frame
  whose people were not looked for is never shown plain to a protected viewer.
- `PeopleFinder`: recorded footage has no analysis attached, so each frame is searched again:
  moving foreground by background subtraction (`camera.motion.MotionDetector`) on every
  frame, the person detector and YuNet every `detect_every` frames (boxes held in between).
- `render_protected`: the pixelated rendition of one segment file, through the redactor's
  decode -> pixelate -> H.264 loop (`privacy.redaction.redact_clip`), as a fragmented MP4 that
  can be served while it is written; `privacy.protected_cache.ProtectedCache` makes and keeps
  them under `<data_dir>/cache/protected/<camera>/`.
- `UnmaskGrants`: which session may see which camera plainly, until when (in memory: a
  restart ends every grant, which fails closed).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np

from vigil.camera.motion import MotionDetector
from vigil.faces.engine import FaceEngine
from vigil.privacy.protected_cache import (  # noqa: F401 (re-exported)
    CACHE_KEEP_S,
    OPEN_REFRESH_S,
    ProtectedCache,
)
from vigil.privacy.redaction import FrameDecision, RedactionResult, pixelate, redact_clip
from vigil.vision.image import encode_jpeg
from vigil.vision.masks import Polygon
from vigil.vision.person import ObjectDetector

Box = tuple[float, float, float, float]  # x, y, width, height in frame pixels

WHOLE_FRAME_BLOCKS = 24  # cells across a frame whose people are not known
SNAPSHOT_BLOCKS = 8  # cells across an event snapshot (already a crop around the person)
# Person/face detectors every this many frames (~1 s at 25 fps; HOG costs ~0.2-0.5 s a call
# at 640 px on one core). Moving people are covered by motion in every frame meanwhile, and
# still ones stay where the last detection found them.
DETECT_EVERY = 25
RENDITION_MAX_WIDTH = 960  # recorded renditions are made at most this wide (the player's size)
# x264 for renditions: superfast costs ~20% less than veryfast at 960 px for ~2x the bytes
# (~0.7 Mbit/s here), which a viewer on the site's network does not notice.
RENDITION_PRESET = "superfast"
RENDITION_CRF = 26
FRAGMENT_S = 0.5  # a keyframe and an MP4 fragment every half second: playback starts after one
# Motion sensitivity at least this high: a small blob (someone half out of the frame) is
# pixelated too; a few needless cells are the cheaper mistake.
MIN_SENSITIVITY = 0.8


def _cover(box: Box, margin: float, w: int, h: int) -> tuple[int, int, int, int]:
    x, y, bw, bh = box
    mx, my = bw * margin, bh * margin
    return (
        max(0, int(x - mx)),
        max(0, int(y - my)),
        min(w, int(np.ceil(x + bw + mx))),
        min(h, int(np.ceil(y + bh + my))),
    )


def protect_frame(
    image: np.ndarray, people: Sequence[Box] | None, margin: float = 0.15
) -> np.ndarray:
    """A copy of `image` with every box pixelated (the whole frame when `people` is None)."""
    out = image.copy()
    h, w = out.shape[:2]
    if people is None:
        pixelate(out, (0, 0, w, h), blocks=WHOLE_FRAME_BLOCKS)
        return out
    for box in people:
        pixelate(out, _cover(box, margin, w, h))
    return out


def protect_snapshot(jpeg: bytes, quality: int = 85) -> bytes:
    """An event snapshot (a crop around a person) pixelated whole, coarsely."""
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        image = np.full((48, 64, 3), 128, np.uint8)
    h, w = image.shape[:2]
    pixelate(image, (0, 0, w, h), blocks=SNAPSHOT_BLOCKS)
    return encode_jpeg(image, quality)


class RenditionCancelled(Exception):
    """A rendition stopped because its viewer asked for another one."""


class PeopleFinder:
    """Boxes to pixelate in consecutive frames of one clip (a `redact_clip` finder)."""

    def __init__(
        self,
        engine: FaceEngine,
        persons: ObjectDetector,
        *,
        sensitivity: float = 0.5,
        detect_every: int = DETECT_EVERY,
        detect_width: int = 640,
    ) -> None:
        self.engine = engine
        self.persons = persons
        self.motion = MotionDetector(max(sensitivity, MIN_SENSITIVITY))
        self.detect_every = detect_every
        self.detect_width = detect_width
        self._held: list[Box] = []
        self._frame = 0

    def _detected(self, image: np.ndarray) -> list[Box]:
        h, w = image.shape[:2]
        scale = min(1.0, self.detect_width / w)
        small = image if scale == 1.0 else cv2.resize(image, (round(w * scale), round(h * scale)))
        boxes = [p.box for p in self.persons.detect(small) if p.label == "person"]
        boxes += [f.box for f in self.engine.detect(small)]
        return [(x / scale, y / scale, bw / scale, bh / scale) for x, y, bw, bh in boxes]

    def __call__(self, image: np.ndarray) -> FrameDecision:
        boxes = self.motion.regions(image)  # the whole frame after a cut: fails closed
        if self._frame % self.detect_every == 0:
            self._held = self._detected(image)
        self._frame += 1
        return FrameDecision(boxes + self._held, 0)


def render_protected(
    src: Path,
    dst: Path,
    engine: FaceEngine,
    persons: ObjectDetector,
    *,
    sensitivity: float = 0.5,
    masks: Sequence[Polygon] = (),
    detect_every: int = DETECT_EVERY,
    threads: int = 0,
    max_width: int | None = RENDITION_MAX_WIDTH,
    preset: str = RENDITION_PRESET,
    fragment_s: float | None = FRAGMENT_S,
    start_s: float = 0.0,
    cancel: threading.Event | None = None,
) -> RedactionResult:
    """Write the pixelated rendition of the clip `src` to `dst` (H.264 fragmented MP4, grown
    in `.<name>.part` and renamed when complete, scaled down to `max_width`: encoding 1080p
    costs ~4x what 960 px does, and it is for viewing only). From the keyframe at or before
    `start_s`; stops (RenditionCancelled, nothing left behind) once `cancel` is set."""
    people = PeopleFinder(engine, persons, sensitivity=sensitivity, detect_every=detect_every)

    def finder(image: np.ndarray) -> FrameDecision:
        if cancel is not None and cancel.is_set():
            raise RenditionCancelled(f"rendition of {src.name} no longer wanted")
        return people(image)

    return redact_clip(
        src,
        dst,
        engine,
        masks=masks,
        find=finder,
        margin=0.15,
        crf=RENDITION_CRF,
        preset=preset,
        threads=threads,
        max_width=max_width,
        fragment_s=fragment_s,
        start_s=start_s,
    )


class UnmaskGrants:
    """Plain view of a camera granted to one viewer (a session) until a time. Thread-safe."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._until: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def grant(self, viewer: str, camera: str, minutes: float) -> float:
        """Grant (or renew) plain view for `minutes`; returns the end (POSIX seconds)."""
        until = self.clock() + minutes * 60.0
        with self._lock:
            self._until[(viewer, camera)] = until
        return until

    def until(self, viewer: str, camera: str) -> float | None:
        """When the viewer's grant on the camera ends; None when there is none (or it ended)."""
        now = self.clock()
        with self._lock:
            end = self._until.get((viewer, camera))
            if end is not None and end <= now:
                del self._until[(viewer, camera)]
                return None
        return end
