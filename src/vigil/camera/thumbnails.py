"""Small JPEGs of recorded footage for scrubbing the time line (issue 17, decision 0069).

One thumbnail is the keyframe nearest a time in a segment, decoded alone (a seek, one frame),
scaled to THUMB_WIDTH and passed through the caller's `process` (privacy masks, pixelation)
before it is encoded: only processed pixels are ever written. They are kept under
`<data_dir>/cache/thumbnails/<camera>/<segment id>/<keyframe ms>-<variant>.jpg`, where the
variant names what was applied (plain or pixelated, and a digest of the masks), so a mask
added later never serves an older, less masked picture. `sweep_thumbnails` removes the folder
of every segment no longer indexed; camera retention runs it right after deleting segments.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
from bisect import bisect_left
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from sqlalchemy import select

from vigil.errors import InputError, VigilError
from vigil.store.db import Database
from vigil.store.models.camera import Segment
from vigil.vision.image import encode_jpeg

log = logging.getLogger(__name__)

THUMB_WIDTH = 160
THUMB_QUALITY = 70
MAKING_AT_ONCE = 2  # decodes at a time for all viewers: scrubbing must not starve recorders
WAIT_S = 10.0
# An MP4's moov says all a decoder needs: probing frames as well (the default) made opening a
# 1080p segment cost ~100-200 ms instead of ~30 ms here.
OPEN_OPTIONS = {"probesize": "32", "analyzeduration": "0"}


def thumbnails_root(data_dir: Path) -> Path:
    return data_dir / "cache" / "thumbnails"


def nearest_keyframe(keyframes: Sequence[float], offset_s: float) -> float | None:
    """The keyframe offset (seconds into the segment) nearest `offset_s`; None if none known
    (a segment still being written has its keyframes listed only when it closes)."""
    if not keyframes:
        return None
    ks = sorted(keyframes)
    i = bisect_left(ks, offset_s)
    near = ks[max(0, i - 1) : i + 1]
    return min(near, key=lambda k: abs(k - offset_s))


def frame_at(path: Path, offset_s: float, width: int = THUMB_WIDTH) -> np.ndarray:
    """The frame at the keyframe at or before `offset_s` in the file, scaled to `width` (BGR)."""
    try:
        inp = av.open(str(path), options=OPEN_OPTIONS)
    except (OSError, av.error.FFmpegError) as exc:
        raise InputError(f"cannot open {path.name}: {exc}") from exc
    with inp:
        vs = inp.streams.video[0]
        vs.codec_context.skip_frame = "NONKEY"  # the keyframe the seek lands on, nothing else
        tb = float(vs.time_base or 0) or 1 / 90000
        target = (vs.start_time or 0) + round(max(0.0, offset_s) / tb)
        try:
            inp.seek(target, stream=vs, backward=True)
            frame = next(inp.decode(vs), None)
        except av.error.FFmpegError as exc:
            raise InputError(f"cannot decode {path.name} at {offset_s:.1f} s: {exc}") from exc
        if frame is None:
            raise InputError(f"no frame in {path.name} at {offset_s:.1f} s")
        height = max(2, round(frame.height * width / frame.width / 2) * 2)
        return frame.to_ndarray(format="bgr24", width=width, height=height)


class ThumbnailsBusy(VigilError):
    """As many thumbnails as allowed are being made, for longer than a viewer should wait."""


@dataclass(frozen=True)
class Thumbnail:
    jpeg: bytes
    offset_s: float  # where in the segment the picture is from (its keyframe)
    cached: bool  # served from the cache folder


class ThumbnailCache:
    """Thumbnails of one site's segments, made on demand and kept on disk."""

    def __init__(self, data_dir: Path) -> None:
        self.root = thumbnails_root(data_dir)
        self._making = threading.BoundedSemaphore(MAKING_AT_ONCE)

    def path_of(self, camera: str, segment_id: int, key_ms: int, variant: str) -> Path:
        return self.root / camera / str(segment_id) / f"{key_ms}-{variant}.jpg"

    def get(
        self,
        camera: str,
        segment: Segment,
        src: Path,
        offset_s: float,
        variant: str,
        process: Callable[[np.ndarray], np.ndarray],
    ) -> Thumbnail:
        """The thumbnail of `segment` (file `src`) nearest `offset_s`, processed by `process`
        (named by `variant` in the cache)."""
        key = nearest_keyframe(segment.keyframes or [], offset_s)
        at = key if key is not None else float(int(offset_s))  # open segment: whole seconds
        path = self.path_of(camera, segment.id, round(at * 1000), variant)
        try:
            return Thumbnail(path.read_bytes(), at, True)
        except FileNotFoundError:
            pass
        if not self._making.acquire(timeout=WAIT_S):
            raise ThumbnailsBusy("busy making other thumbnails")
        try:  # a hair past the keyframe: its timestamp may round just after `at`
            jpeg = encode_jpeg(process(frame_at(src, at + 0.001)), THUMB_QUALITY)
        finally:
            self._making.release()
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as f:  # a cache: no fsync; a lost file is made again
            f.write(jpeg)
        os.replace(tmp, path)
        return Thumbnail(jpeg, at, False)


def sweep_thumbnails(db: Database, data_dir: Path) -> int:
    """Remove the thumbnails of segments no longer in the index; how many folders went."""
    root = thumbnails_root(data_dir)
    if not root.is_dir():
        return 0
    removed = 0
    for folder in root.iterdir():
        if not folder.is_dir():
            continue
        with db.session() as s:
            ids = set(s.scalars(select(Segment.id).where(Segment.camera == folder.name)))
        for seg in folder.iterdir():
            if not (seg.name.isdigit() and int(seg.name) in ids):
                shutil.rmtree(seg, ignore_errors=True)
                removed += 1
    if removed:
        log.info("time line: thumbnails of %d deleted segment(s) removed", removed)
    return removed
