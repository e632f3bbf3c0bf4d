"""`vigil bench privacy-view`: what privacy-protected viewing costs (issue 7), on one core.

- Live: one protected frame (motion regions pixelated, JPEG encoded) beside the plain JPEG
  encode every published frame already pays, on the same 960 px frames of people walking.
- Recorded: the pixelated rendition of a 1080p clip (motion every frame, person and face
  detectors every 25th, H.264 re-encode at 960 px) beside the same re-encode with nothing detected.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

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


def _recorded(video: Path, seconds: float, fps: int) -> tuple[list[Figure], float]:
    from vigil.config import FacesConfig
    from vigil.faces.engine import FaceEngine
    from vigil.privacy.protected_view import render_protected
    from vigil.privacy.redaction import FrameDecision, redact_clip
    from vigil.vision.person import HogPersonDetector
    from vigil.vision.video import Mp4Writer

    engine = FaceEngine(FacesConfig(threads=1))
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in.mp4"
        with Mp4Writer(src, fps) as w:
            for img in _frames(video, 1920, round(seconds * fps)):
                w.write(img[:1080])
        ours = render_protected(src, Path(tmp) / "p.mp4", engine, HogPersonDetector(), threads=1)
        base = redact_clip(
            src,
            Path(tmp) / "b.mp4",
            engine,
            find=lambda img: FrameDecision([], 0),
            crf=26,
            preset="veryfast",
            threads=1,
        )
    figures = [
        Figure(
            "recorded: 1080p protected rendition at 960 px (1 core)",
            ours.speed,
            "x real time",
            1.0,
            True,
            base.speed,
            "1080p re-encode, nothing detected",
        )
    ]
    return figures, ours.seconds


def run(video: Path, seconds: float = 6.0, fps: int = 25, frames: int = 200) -> list[Figure]:
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        figures = _live(video, frames)
        recorded, _ = _recorded(video, seconds, fps)
    finally:
        cv2.setNumThreads(threads)
    return figures + recorded
