"""The live-frame hub: each camera publishes its latest JPEG, any number of viewers read it.

One decoder per camera feeds the hub (the analysis loop, or `feed_camera` below); viewers
never decode, they only copy the newest JPEG, so 20 viewers cost what one does.

Privacy-protected viewers (issue 7) get `latest_protected`: the same frame with its people
pixelated, made from the published image and the boxes where people are (motion regions and
person/face tracks from the analyzer), encoded once per frame and only when asked for. A frame
published without boxes (a bare JPEG, or an image whose people were not looked for) is
pixelated whole for them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from vigil.privacy.protected_view import Box, protect_frame
from vigil.vision.image import encode_jpeg


@dataclass(frozen=True)
class LiveFrame:
    jpeg: bytes
    at: float  # POSIX seconds when the frame was captured (or published)
    seq: int  # increases by one per frame of this camera
    # For the protected rendition: the published image and where its people are (None: unknown).
    image: np.ndarray | None = field(default=None, repr=False, compare=False)
    people: tuple[Box, ...] | None = field(default=None, compare=False)


class LiveFrames:
    """Latest JPEG per camera. Thread-safe; `publish` is cheap (no copy, no encode)."""

    def __init__(self, max_age_s: float = 15.0, jpeg_quality: int = 80) -> None:
        self.max_age_s = max_age_s  # older frames are "stale": the camera stopped feeding
        self.jpeg_quality = jpeg_quality
        self._frames: dict[str, LiveFrame] = {}
        self._protected: dict[str, LiveFrame] = {}  # pixelated rendition of the latest frame
        self._protect_locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()
        self.closed = threading.Event()  # set on shutdown so open MJPEG streams end

    def publish(
        self,
        camera: str,
        jpeg: bytes,
        at: float | None = None,
        *,
        image: np.ndarray | None = None,
        people: Sequence[Box] | None = None,
    ) -> LiveFrame:
        with self._lock:
            prev = self._frames.get(camera)
            frame = LiveFrame(
                jpeg,
                time.time() if at is None else at,
                prev.seq + 1 if prev else 1,
                image,
                None if people is None else tuple(people),
            )
            self._frames[camera] = frame
        return frame

    def publish_image(
        self,
        camera: str,
        bgr: np.ndarray,
        at: float | None = None,
        *,
        people: Sequence[Box] | None = None,
    ) -> LiveFrame:
        """Encode a BGR frame once and publish it; `people`: boxes (pixels) to pixelate for
        protected viewers (None: not looked for, so they get the whole frame pixelated)."""
        jpeg = encode_jpeg(bgr, self.jpeg_quality)
        return self.publish(camera, jpeg, at, image=bgr, people=people)

    def latest_protected(self, camera: str, *, fresh_only: bool = True) -> LiveFrame | None:
        """The latest frame with its people pixelated; made once per frame, on first demand."""
        frame = self.latest(camera, fresh_only=fresh_only)
        if frame is None:
            return None
        with self._lock:
            lock = self._protect_locks.setdefault(camera, threading.Lock())
        with lock:  # concurrent viewers wait for one encode instead of each doing it
            done = self._protected.get(camera)
            if done is not None and done.seq == frame.seq:
                return done
            image = frame.image if frame.image is not None else _decode(frame.jpeg)
            jpeg = encode_jpeg(protect_frame(image, frame.people), self.jpeg_quality)
            done = LiveFrame(jpeg, frame.at, frame.seq, people=frame.people)
            self._protected[camera] = done
            return done

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


def _decode(jpeg: bytes) -> np.ndarray:
    """A published JPEG as BGR; an undecodable one becomes a grey frame (shows nothing)."""
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    return image if image is not None else np.full((48, 64, 3), 128, np.uint8)


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
    `vigil serve` publishes from its analysis loop instead, so nothing decodes twice).
    Without the analyzer, protected viewers get only the moving foreground pixelated."""
    from vigil.camera.motion import MotionDetector
    from vigil.camera.source import analysis_frames

    stop = stop or threading.Event()

    def run() -> None:
        frames: Iterable = analysis_frames(url, fps=fps, max_width=max_width, loop=loop, stop=stop)
        motion = MotionDetector()
        for f in frames:
            if stop.is_set() or live.closed.is_set():
                return
            live.publish_image(camera, f.image, f.wall_time, people=motion.regions(f.image))

    t = threading.Thread(target=run, name=f"live-{camera}", daemon=True)
    t.start()
    return t
