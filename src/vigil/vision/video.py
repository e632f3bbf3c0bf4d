"""Writing H.264 MP4 files from BGR frames (annotated output, demo footage)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av
import numpy as np

from vigil.errors import InputError


class Mp4Writer:
    """`with Mp4Writer(path, fps) as w: w.write(bgr)`; the size is taken from the first frame."""

    def __init__(self, path: Path, fps: float, keyframe_s: float = 1.0) -> None:
        self.path = path
        self.fps = Fraction(fps).limit_denominator(1000)
        self.keyframe_s = keyframe_s
        self._out: av.container.OutputContainer | None = None
        self._stream: av.video.stream.VideoStream | None = None

    def __enter__(self) -> Mp4Writer:
        try:
            self._out = av.open(str(self.path), "w")
        except OSError as exc:
            raise InputError(f"cannot write {self.path}: {exc.strerror or exc}") from exc
        return self

    def write(self, bgr: np.ndarray) -> None:
        assert self._out is not None, "use Mp4Writer as a context manager"
        h, w = bgr.shape[:2]
        if self._stream is None:
            self._stream = self._out.add_stream("libx264", rate=self.fps)
            self._stream.width, self._stream.height = w - w % 2, h - h % 2
            self._stream.pix_fmt = "yuv420p"
            self._stream.options = {
                "preset": "veryfast",
                "g": str(max(1, round(float(self.fps) * self.keyframe_s))),
            }
        frame = av.VideoFrame.from_ndarray(
            np.ascontiguousarray(bgr[: h - h % 2, : w - w % 2]), "bgr24"
        )
        for packet in self._stream.encode(frame):
            self._out.mux(packet)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._out is None:
            return
        if self._stream is not None:
            for packet in self._stream.encode():
                self._out.mux(packet)
        self._out.close()
