"""The live-frame hub: each camera publishes its latest JPEG, any number of viewers read it.

One decoder per camera feeds the hub (the analysis loop, or `feed_camera` below); viewers
never decode, they only copy the newest JPEG, so 20 viewers cost what one does.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from vigil.vision.image import encode_jpeg


@dataclass(frozen=True)
class LiveFrame:
    jpeg: bytes
    at: float  # POSIX seconds when the frame was captured (or published)
    seq: int  # increases by one per frame of this camera


class LiveFrames:
    """Latest JPEG per camera. Thread-safe; `publish` is cheap (no copy, no encode)."""

    def __init__(self, max_age_s: float = 15.0, jpeg_quality: int = 80) -> None:
        self.max_age_s = max_age_s  # older frames are "stale": the camera stopped feeding
        self.jpeg_quality = jpeg_quality
        self._frames: dict[str, LiveFrame] = {}
        self._lock = threading.Lock()
        self.closed = threading.Event()  # set on shutdown so open MJPEG streams end

    def publish(self, camera: str, jpeg: bytes, at: float | None = None) -> LiveFrame:
        with self._lock:
            prev = self._frames.get(camera)
            frame = LiveFrame(jpeg, time.time() if at is None else at, prev.seq + 1 if prev else 1)
            self._frames[camera] = frame
        return frame

    def publish_image(self, camera: str, bgr: np.ndarray, at: float | None = None) -> LiveFrame:
        """Encode a BGR frame once and publish it."""
        return self.publish(camera, encode_jpeg(bgr, self.jpeg_quality), at)

    def latest(self, camera: str, *, fresh_only: bool = True) -> LiveFrame | None:
        with self._lock:
            frame = self._frames.get(camera)
        if frame is None or (fresh_only and time.time() - frame.at > self.max_age_s):
            return None
        return frame

    def cameras(self) -> list[str]:
        with self._lock:
            return sorted(self._frames)

    def close(self) -> None:
        self.closed.set()


def feed_camera(
    live: LiveFrames,
    camera: str,
    url: str,
    *,
    fps: float = 5.0,
    max_width: int = 960,
    loop: bool = False,
    stop: threading.Event | None = None,
) -> threading.Thread:
    """Decode `url` in a daemon thread and publish its frames (for `vigil api` and tests;
    `vigil serve` publishes from its analysis loop instead, so nothing decodes twice)."""
    from vigil.camera.source import analysis_frames

    stop = stop or threading.Event()

    def run() -> None:
        frames: Iterable = analysis_frames(url, fps=fps, max_width=max_width, loop=loop, stop=stop)
        for f in frames:
            if stop.is_set() or live.closed.is_set():
                return
            live.publish_image(camera, f.image, f.wall_time)

    t = threading.Thread(target=run, name=f"live-{camera}", daemon=True)
    t.start()
    return t
