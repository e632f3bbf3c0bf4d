"""A generated tamper clip with exact truth, for the camera health checks.

`tamper_clip(path, vtest)` writes `vtest.avi` (a real street: people walking past, compression
noise) as a 384x288, 5 fps H.264 clip in which, at fixed times, the camera is covered (black),
defocused (a Gaussian blur), turned (the view shifted by 20% of its width), frozen (one frame
repeated) and left in the dark (15% of the light), with normal footage between them, and
one span of light changes (half the light, then a left-to-right gradient) that must raise
nothing. `TamperClip.spans` says which condition each span shows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

WIDTH, HEIGHT, FPS = 384, 288, 5
SHIFT = 0.2  # share of the width the turned camera's view moves by
# (start s, end s, what the camera shows); "normal" and "light" must raise nothing
SPANS: tuple[tuple[float, float, str], ...] = (
    (0, 14, "normal"),
    (14, 26, "covered"),
    (26, 36, "normal"),
    (36, 48, "blurred"),
    (48, 58, "normal"),
    (58, 70, "moved"),
    (70, 80, "normal"),
    (80, 92, "light"),
    (92, 100, "normal"),
    (100, 112, "frozen"),
    (112, 122, "normal"),
    (122, 134, "dark"),
    (134, 144, "normal"),
)


@dataclass(frozen=True)
class TamperClip:
    path: Path
    spans: tuple[tuple[float, float, str], ...]

    def span(self, condition: str) -> tuple[float, float]:
        return next((a, b) for a, b, c in self.spans if c == condition)


def _shifted(img: np.ndarray) -> np.ndarray:
    m = np.array([[1, 0, -SHIFT * img.shape[1]], [0, 1, 0]], np.float32)
    return cv2.warpAffine(img, m, (img.shape[1], img.shape[0]), borderMode=cv2.BORDER_REFLECT)


def _light(img: np.ndarray, t: float, start: float) -> np.ndarray:
    if t - start < 6:  # half the light
        return (img * 0.5).astype(np.uint8)
    ramp = np.linspace(0.4, 1.2, img.shape[1], dtype=np.float32)[None, :, None]
    return np.clip(img * ramp, 0, 255).astype(np.uint8)


def _looks(kind: str, start: float) -> Callable[[np.ndarray, float], np.ndarray]:
    return {
        "covered": lambda img, t: np.full_like(img, 8),
        "blurred": lambda img, t: cv2.GaussianBlur(img, (0, 0), 4.0),
        "moved": lambda img, t: _shifted(img),
        "light": lambda img, t: _light(img, t, start),
        "dark": lambda img, t: (img * 0.15).astype(np.uint8),
    }.get(kind, lambda img, t: img)


def _street(vtest: Path) -> list[np.ndarray]:
    """vtest.avi at 5 fps and 384x288 (every other frame)."""
    frames = []
    with av.open(str(vtest)) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i % 2 == 0:
                frames.append(cv2.resize(f.to_ndarray(format="bgr24"), (WIDTH, HEIGHT)))
    return frames


def tamper_clip(
    path: Path, vtest: Path, spans: tuple[tuple[float, float, str], ...] = SPANS
) -> TamperClip:
    """Write the clip (a few seconds of encoding); the same call writes the same frames.
    `spans`: another script of the same looks (e.g. a short one for a live test)."""
    street = _street(vtest)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as out:
        st = out.add_stream("libx264", rate=FPS)
        st.width, st.height, st.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        st.options = {"preset": "veryfast", "g": str(2 * FPS), "bf": "0", "crf": "23"}
        n = 0
        for start, end, kind in spans:
            look = _looks(kind, start)
            held = street[n % len(street)]
            for i in range(round((end - start) * FPS)):
                t = start + i / FPS
                img = held if kind == "frozen" else street[(n + i) % len(street)]
                frame = av.VideoFrame.from_ndarray(look(img, t), format="bgr24")
                frame.pts, frame.time_base = n + i, Fraction(1, FPS)
                for pkt in st.encode(frame.reformat(format="yuv420p")):
                    out.mux(pkt)
            n += round((end - start) * FPS)
        for pkt in st.encode(None):
            out.mux(pkt)
    return TamperClip(path, spans)
