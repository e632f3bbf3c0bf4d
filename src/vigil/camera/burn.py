"""Privacy masks burned into the recording of one camera: decode, black out, re-encode H.264.

`MaskBurner` turns the source's packets into H.264 packets of the same frames with every
privacy-mask polygon black. Output packets keep the source's timestamps (so the recorder's
wall clock, segment cuts and discontinuity checks work as with stream copy) and a keyframe
wherever the source had one (x264 adds one after `MAX_GOP_S` without). Frames are masked in
memory: nothing unmasked is ever written. The encoder has no frame delay (tune=zerolatency),
so each packet leaves as soon as its frame arrives and kill -9 loses no more than stream copy.
Decoding and encoding release the GIL, so the recorder threads of several cameras spread over
cores; each decodes on one thread and encodes on one per 1080p of picture (`encoder_threads`).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable, Iterator
from fractions import Fraction

import av
import av.error
import cv2
import numpy as np

from vigil.vision.masks import Polygon, to_pixels

log = logging.getLogger(__name__)

# Chosen for CCTV at low CPU: `vigil bench record --burn-in` measures the cost beside copy.
PRESET = "veryfast"
CRF = 23
MAX_GOP_S = 4.0  # keyframe at least this often when the source sends none
BLACK_Y, NEUTRAL_UV = 16, 128  # black in limited-range YUV


def encoder_threads(width: int, height: int) -> int:
    """One thread per 1080p worth of pixels (up to 4): x264 slices each frame between them
    (zerolatency), so a 4K camera keeps up without adding delay; smaller ones use one."""
    return max(1, min(4, round(width * height / (1920 * 1080))))


class BurnError(Exception):
    """The masked stream cannot be encoded; `str()` is a sentence for a person."""


class MaskBurner:
    """Packets of one source stream in, masked H.264 packets out (`burn`, `packets`)."""

    def __init__(
        self,
        source: av.video.stream.VideoStream,
        polygons: list[Polygon],
        *,
        preset: str = PRESET,
        crf: int = CRF,
        max_backstep_s: float = 0.5,
    ) -> None:
        if not polygons:
            raise ValueError("MaskBurner needs at least one polygon")
        self.polygons = list(polygons)
        self.preset = preset
        self.crf = crf
        self.max_backstep_s = max_backstep_s  # timestamps going back less than this: jitter
        self._decoder = source.codec_context
        self._decoder.thread_count = 1
        rate = source.average_rate or source.guessed_rate or source.base_rate
        self._rate = Fraction(rate) if rate else Fraction(25)
        self._sink: av.container.OutputContainer | None = None
        self._sink_started = False  # its header is written: the encoder's stream is complete
        self._encoder: av.video.stream.VideoStream | None = None
        self._size: tuple[int, int] | None = None
        # (frame size, the polygons they came from, luma and chroma polygons in pixels)
        self._pixels: tuple[tuple[int, int], list[Polygon], list[np.ndarray], list[np.ndarray]]
        self._pixels = ((0, 0), [], [], [])
        self._time_base: Fraction | None = None
        self._last_pts: int | None = None
        self._started = False  # a keyframe reached the decoder
        self.frames = 0
        self.decode_errors = 0
        self.untimed = 0  # decoded frames without a timestamp (cannot be placed: lost)
        self.restarts = 0  # encoder restarts (size change, timestamps going backwards)

    @property
    def lost(self) -> int:
        """Source frames that did not reach the recording (undecodable or untimed)."""
        return self.decode_errors + self.untimed

    @property
    def template(self) -> av.video.stream.VideoStream | None:
        """The stream segments take their codec parameters from (None before the first packet).
        A new object after an encoder restart: the recorder then starts a new segment."""
        return self._encoder if self._sink is not None and self._sink_started else None

    def set_polygons(self, polygons: list[Polygon]) -> None:
        """New masks (saved while recording): they apply from the next frame. May be called
        from another thread: the recorder thread converts them to pixels on its next frame."""
        if not polygons:
            raise ValueError("MaskBurner needs at least one polygon")
        self.polygons = list(polygons)  # a new list: the cached pixels no longer match

    def packets(self, source: Iterable[av.Packet]) -> Iterator[av.Packet]:
        for pkt in source:
            yield from self.burn(pkt)

    def burn(self, pkt: av.Packet) -> list[av.Packet]:
        """Decode one source packet; the masked frames it completes, encoded."""
        if not self._started:
            if not pkt.is_keyframe:
                return []  # the decoder cannot start before a keyframe
            self._started = True
        tb = pkt.time_base
        try:
            frames = self._decoder.decode(pkt)
        except av.error.FFmpegError as exc:  # a damaged packet: the frame is lost either way
            self.decode_errors += 1
            (log.warning if self.decode_errors == 1 else log.debug)(
                "cannot decode a packet for burn-in: %s", exc
            )
            return []
        out: list[av.Packet] = []
        for frame in frames:
            out += self._encode(frame, tb)
        return out

    def flush(self) -> list[av.Packet]:
        """Packets still inside the encoder (none with zerolatency, kept for safety)."""
        if self._encoder is None:
            return []
        try:
            return list(self._encoder.encode(None))
        except av.error.FFmpegError:
            return []

    def close(self) -> None:
        self._encoder = None
        self._sink = None  # never closed: it holds only a header in memory
        self._sink_started = False

    # --- inside --------------------------------------------------------------------------

    def _encode(self, frame: av.VideoFrame, tb: Fraction) -> list[av.Packet]:
        pts = frame.pts if frame.pts is not None else frame.dts
        if pts is None:
            self.untimed += 1
            return []
        size = (frame.width, frame.height)
        if self._encoder is None or size != self._size or tb != self._time_base:
            self._open_encoder(size, tb)
        elif self._last_pts is not None and pts <= self._last_pts:
            if (self._last_pts - pts) * tb <= self.max_backstep_s:
                pts = self._last_pts + 1  # jitter: x264 needs increasing pts, keep the frame
            else:  # the stream restarted: a new encoder, and the recorder cuts here
                self._open_encoder(size, tb)
        self._last_pts = pts
        masked = self._masked(frame)
        masked.pts = pts
        masked.time_base = tb
        masked.pict_type = (
            av.video.frame.PictureType.I if frame.key_frame else av.video.frame.PictureType.NONE
        )
        assert self._encoder is not None and self._sink is not None
        try:
            packets = list(self._encoder.encode(masked))
        except av.error.FFmpegError as exc:
            raise BurnError(f"cannot encode the masked video: {exc}") from exc
        if packets and not self._sink_started:
            # Writing the (in-memory) header copies the encoder's SPS/PPS into its stream, which
            # each segment then copies like a stream-copy source.
            self._sink.start_encoding()
            self._sink_started = True
        self.frames += 1
        return packets

    def _open_encoder(self, size: tuple[int, int], tb: Fraction) -> None:
        if self._encoder is not None:
            self.restarts += 1
        width, height = size
        self._sink = av.open(io.BytesIO(), "w", format="mp4")
        self._sink_started = False
        try:
            enc = self._sink.add_stream("libx264", rate=self._rate)
        except (ValueError, av.error.FFmpegError) as exc:
            raise BurnError(f"cannot burn in privacy masks: no H.264 encoder ({exc})") from exc
        enc.width, enc.height, enc.pix_fmt = width, height, "yuv420p"
        enc.time_base = tb
        enc.codec_context.time_base = tb
        gop = max(1, round(float(self._rate) * MAX_GOP_S))
        enc.options = {
            "preset": self.preset,
            "tune": "zerolatency",
            "crf": str(self.crf),
            "threads": str(encoder_threads(width, height)),
            "g": str(gop),
            "sc_threshold": "0",  # no extra keyframes at scene cuts: they follow the source
            "forced-idr": "1",
        }
        self._encoder = enc
        self._size = size
        self._time_base = tb
        self._last_pts = None

    def _masked(self, frame: av.VideoFrame) -> av.VideoFrame:
        """A writable yuv420p copy of the frame with the polygons black (the decoder's own
        frame is a reference picture and must stay untouched)."""
        if frame.format.name == "yuv420p":
            frame.make_writable()  # copies the decoder's buffer
        else:
            frame = frame.reformat(format="yuv420p")
        luma, chroma = self._polygons_in_pixels(frame.width, frame.height)
        for index, polys, value in (
            (0, luma, BLACK_Y),
            (1, chroma, NEUTRAL_UV),
            (2, chroma, NEUTRAL_UV),
        ):
            plane = frame.planes[index]
            rows = np.frombuffer(memoryview(plane), np.uint8).reshape(plane.height, plane.line_size)
            cv2.fillPoly(rows[:, : plane.width], polys, value)
        return frame

    def _polygons_in_pixels(
        self, width: int, height: int
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        polygons = self.polygons
        size, made_from, luma, chroma = self._pixels
        if size == (width, height) and made_from is polygons:
            return luma, chroma
        cw, ch = (width + 1) // 2, (height + 1) // 2
        luma = [to_pixels(p, width, height) for p in polygons]
        chroma = [to_pixels(p, cw, ch) for p in polygons]
        self._pixels = ((width, height), polygons, luma, chroma)
        return luma, chroma
