"""`vigil bench privacy-view`: what privacy-protected viewing costs (issue 7), on one core.

- Live: one protected frame (motion regions pixelated, JPEG encoded) beside the plain JPEG
  encode every published frame already pays, on the same 960 px frames of people walking.
- Recorded: the pixelated rendition of a 1080p clip (motion every frame, person and face
  detectors every 25th, H.264 at 960 px) with today's settings (x264 superfast, fragmented MP4
  streamed while written) beside the previous ones (veryfast, served once whole): speed in clip
  seconds per CPU second of one thread (wall time on a shared machine measures the neighbours),
  and the wait before a player can start (first fragment written vs whole file).
"""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from vigil.bench.report import Figure


def _frames(video: Path, width: int, count: int) -> list[np.ndarray]:
    """The first `count` frames of `video` scaled to `width` (looped when shorter)."""
    import av

    out: list[np.ndarray] = []
    while len(out) < count:
        with av.open(str(video)) as c:
            for f in c.decode(video=0):
                img = f.to_ndarray(format="bgr24")
                h = round(img.shape[0] * width / img.shape[1]) // 2 * 2
                out.append(cv2.resize(img, (width, h), interpolation=cv2.INTER_LINEAR))
                if len(out) == count:
                    break
    return out


def _live(video: Path, frames: int) -> list[Figure]:
    from vigil.camera.motion import MotionDetector
    from vigil.privacy.protected_view import protect_frame
    from vigil.vision.image import encode_jpeg

    imgs = _frames(video, 960, frames)
    motion = MotionDetector()
    boxes = [motion.regions(img) for img in imgs]
    t0 = time.perf_counter()
    for img in imgs:
        encode_jpeg(img, 80)
    plain = (time.perf_counter() - t0) / len(imgs) * 1e3
    t0 = time.perf_counter()
    for img, b in zip(imgs, boxes, strict=True):
        encode_jpeg(protect_frame(img, b), 80)
    protected = (time.perf_counter() - t0) / len(imgs) * 1e3
    return [
        Figure(
            "live: protected frame (960 px, pixelate + JPEG), once per frame",
            protected,
            "ms",
            None,
            False,
            plain,
            "plain JPEG encode",
        )
    ]


def _first_fragment_s(part: Path, done: threading.Event, t0: float) -> float:
    """Seconds from `t0` until `part` holds its first fragment (what a player needs)."""
    while not done.is_set():
        try:
            if b"moof" in part.read_bytes():
                return time.perf_counter() - t0
        except OSError:
            pass
        time.sleep(0.01)
    return time.perf_counter() - t0


def _render(src: Path, dst: Path, **kwargs: Any) -> tuple[float, float, float]:
    """(clip seconds per CPU second, seconds until a player can start, wall seconds) of one
    rendition made in a thread while this one watches for its first fragment."""
    from vigil.config import FacesConfig
    from vigil.faces.engine import FaceEngine
    from vigil.privacy.protected_view import render_protected
    from vigil.privacy.redaction import part_path
    from vigil.vision.person import HogPersonDetector

    engine = FaceEngine(FacesConfig(threads=1))
    persons = HogPersonDetector()
    engine.detect(np.zeros((360, 640, 3), np.uint8))  # models loaded before the clock starts
    done = threading.Event()
    result = []

    def work() -> None:
        try:
            result.append(render_protected(src, dst, engine, persons, threads=1, **kwargs))
        finally:
            done.set()

    c0, t0 = time.process_time(), time.perf_counter()
    thread = threading.Thread(target=work)
    thread.start()
    first = _first_fragment_s(part_path(dst), done, t0) if kwargs.get("fragment_s") else None
    thread.join()
    cpu, wall = time.process_time() - c0, time.perf_counter() - t0
    if not result:
        raise RuntimeError("the rendition failed")
    return result[0].duration_s / cpu, wall if first is None else first, wall


def _recorded(video: Path, seconds: float, fps: int) -> list[Figure]:
    from vigil.privacy import protected_view as pv
    from vigil.vision.video import Mp4Writer

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in.mp4"
        with Mp4Writer(src, fps) as w:
            for img in _frames(video, 1920, round(seconds * fps)):
                w.write(img[:1080])
        before = _render(src, Path(tmp) / "b.mp4", preset="veryfast", fragment_s=None)
        ours = _render(src, Path(tmp) / "p.mp4", fragment_s=pv.FRAGMENT_S)
    return [
        Figure(
            f"recorded: 1080p rendition at {pv.RENDITION_MAX_WIDTH} px, {pv.RENDITION_PRESET}, "
            "fragmented (clip s per CPU s, 1 thread)",
            ours[0],
            "x real time",
            1.0,
            True,
            before[0],
            "veryfast, whole file (previous)",
        ),
        Figure(
            f"recorded: wait before playback of a {seconds:g} s segment can start",
            ours[1],
            "s",
            2.0,
            False,
            before[1],
            "whole rendition first (previous)",
        ),
    ]


def run(video: Path, seconds: float = 6.0, fps: int = 25, frames: int = 200) -> list[Figure]:
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        figures = _live(video, frames)
        recorded = _recorded(video, seconds, fps)
    finally:
        cv2.setNumThreads(threads)
    return figures + recorded
