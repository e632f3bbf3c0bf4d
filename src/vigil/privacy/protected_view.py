"""Privacy-protected viewing (issue 7): people pixelated for protected roles, audited unmasking.

- `protect_frame(image, people)`: a copy with every box (moving foreground, person and face
  boxes) pixelated. `people=None` means "not known" and pixelates the whole frame: a frame
  whose people were not looked for is never shown plain to a protected viewer.
- `PeopleFinder`: recorded footage has no analysis attached, so each frame is searched again:
  moving foreground by background subtraction (`camera.motion.MotionDetector`) on every
  frame, the person detector and YuNet every `detect_every` frames (boxes held in between).
- `render_protected`/`ProtectedCache`: the pixelated rendition of one segment file, through
  the redactor's decode -> pixelate -> H.264 loop (`privacy.redaction.redact_clip`), cached
  under `<data_dir>/cache/protected/<camera>/`.
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
from vigil.privacy.redaction import FrameDecision, RedactionResult, pixelate, redact_clip
from vigil.vision.image import encode_jpeg
from vigil.vision.masks import Polygon
from vigil.vision.person import PersonDetector

Box = tuple[float, float, float, float]  # x, y, width, height in frame pixels

WHOLE_FRAME_BLOCKS = 24  # cells across a frame whose people are not known
SNAPSHOT_BLOCKS = 8  # cells across an event snapshot (already a crop around the person)
CACHE_KEEP_S = 24 * 3600.0  # renditions older than this are swept when another is made
# Person/face detectors every this many frames (~1 s at 25 fps; HOG costs ~0.2-0.5 s a call
# at 640 px on one core). Moving people are covered by motion in every frame meanwhile, and
# still ones stay where the last detection found them.
DETECT_EVERY = 25
RENDITION_MAX_WIDTH = 960  # recorded renditions are made at most this wide
OPEN_REFRESH_S = 30.0  # a rendition of the segment being written is redone after this
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


class PeopleFinder:
    """Boxes to pixelate in consecutive frames of one clip (a `redact_clip` finder)."""

    def __init__(
        self,
        engine: FaceEngine,
        persons: PersonDetector,
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
        boxes = [p.box for p in self.persons.detect(small)]
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
    persons: PersonDetector,
    *,
    sensitivity: float = 0.5,
    masks: Sequence[Polygon] = (),
    detect_every: int = DETECT_EVERY,
    threads: int = 0,
    max_width: int | None = RENDITION_MAX_WIDTH,
) -> RedactionResult:
    """Write the pixelated rendition of the clip `src` to `dst` (H.264 MP4, scaled down to
    `max_width`: encoding 1080p costs ~4x what 960 px does, and it is for viewing only)."""
    finder = PeopleFinder(engine, persons, sensitivity=sensitivity, detect_every=detect_every)
    return redact_clip(
        src,
        dst,
        engine,
        masks=masks,
        find=finder,
        margin=0.15,
        crf=26,
        preset="veryfast",
        threads=threads,
        max_width=max_width,
    )


class ProtectedCache:
    """Renditions of segments: `<id>.mp4` for a complete segment, `<id>-open.mp4` for the one
    still being written, redone when older than OPEN_REFRESH_S (not on every range request,
    or a player would get different files while it plays one)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._locks: dict[Path, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(
        self,
        camera: str,
        segment_id: int,
        src: Path,
        render: Callable[[Path, Path], object],
        *,
        complete: bool = True,
    ) -> Path:
        """The rendition of `src`, made by `render(src, dst)` unless cached; one at a time each."""
        folder = self.root / camera
        dst = folder / (f"{segment_id}.mp4" if complete else f"{segment_id}-open.mp4")
        with self._guard:
            lock = self._locks.setdefault(dst, threading.Lock())
        with lock:
            if not self._fresh(dst, complete):
                folder.mkdir(parents=True, exist_ok=True)
                render(src, dst)
                self._sweep(folder, segment_id, complete)
        return dst

    @staticmethod
    def _fresh(dst: Path, complete: bool) -> bool:
        if not dst.is_file():
            return False
        return complete or time.time() - dst.stat().st_mtime < OPEN_REFRESH_S

    @staticmethod
    def _sweep(folder: Path, segment_id: int, complete: bool) -> None:
        """Drop the open rendition of a now complete segment and any older than CACHE_KEEP_S."""
        old = time.time() - CACHE_KEEP_S
        for f in folder.glob("*.mp4"):
            if (complete and f.name == f"{segment_id}-open.mp4") or f.stat().st_mtime < old:
                f.unlink(missing_ok=True)


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
