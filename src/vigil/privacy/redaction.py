"""Redaction: pixelate every face except the subject's, black out privacy masks.

Works on a copy: a clip is decoded and re-encoded into a new file (`redact_clip`), an image
is returned as a new array (`redact_image`); the original is never modified.

The subject is chosen by identity: the templates of an enrolled person (`subject_from_gallery`)
or the embedding of a photo (`Subject.from_vectors`). A face is kept only when its embedding
scores at least the match threshold against one of the subject's templates; every other
face, and every face when there is no subject ("keep none"), is pixelated. When in doubt a
face is redacted: a face too small or too blurred to embed is pixelated too.

Detection runs every `detect_every` frames (1: every frame). Between two detections the
boxes of the last two detections are carried over, grown by a margin that increases with
the gap, so a face that moves or that the detector misses once stays covered.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import av
import cv2
import numpy as np
from sqlalchemy import select

from vigil.camera.timebase import stream_time_base
from vigil.errors import InputError, NotFoundError
from vigil.faces.engine import FaceEngine
from vigil.store.db import Database
from vigil.store.models import Person, Template
from vigil.vision.align import align_face
from vigil.vision.masks import Polygon, black_out

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 (pixels, exclusive end)


@dataclass(frozen=True)
class Subject:
    """Whose face stays visible: unit-length template vectors and the match threshold."""

    name: str
    vectors: np.ndarray  # k x d
    threshold: float

    @classmethod
    def from_vectors(cls, name: str, vectors: np.ndarray, threshold: float) -> Subject:
        v = np.atleast_2d(np.asarray(vectors, np.float32))
        v = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
        return cls(name, v, float(threshold))

    def scores(self, embeddings: np.ndarray) -> np.ndarray:
        if len(embeddings) == 0:
            return np.zeros(0, np.float32)
        return (np.asarray(embeddings, np.float32) @ self.vectors.T).max(axis=1)


def subject_from_gallery(db: Database, model: str, name: str, threshold: float) -> Subject:
    """The enrolled person `name` as a redaction subject (all their templates of `model`)."""
    with db.session() as s:
        person = s.scalar(select(Person).where(Person.name == name))
        if person is None:
            raise NotFoundError(f"no enrolled person named {name!r}")
        rows = list(
            s.scalars(
                select(Template.embedding).where(
                    Template.person_id == person.id, Template.model == model
                )
            )
        )
    if not rows:
        raise InputError(f"{name!r} has no templates of the model {model}")
    return Subject.from_vectors(
        name, np.stack([np.frombuffer(r, np.float32) for r in rows]), threshold
    )


def pixelate(image: np.ndarray, box: Box, blocks: int = 6) -> None:
    """Pixelate `box` of `image` in place into about `blocks` x `blocks` cells."""
    x0, y0, x1, y1 = box
    roi = image[y0:y1, x0:x1]
    h, w = roi.shape[:2]
    if h < 2 or w < 2:
        return
    # INTER_LINEAR is what this has always used: an INTER_AREA once passed positionally was
    # taken by OpenCV as `dst`. Changing it changes every redacted clip's pixels.
    cells = (max(1, blocks), max(1, round(blocks * h / w)))
    small = cv2.resize(roi, cells, interpolation=cv2.INTER_LINEAR)
    roi[:] = cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)


def _grow(box: tuple[float, float, float, float], margin: float, w: int, h: int) -> Box:
    x, y, bw, bh = box
    mx, my = bw * margin, bh * margin
    return (
        max(0, int(x - mx)),
        max(0, int(y - my * 1.2)),  # a little more above: hair and forehead
        min(w, int(np.ceil(x + bw + mx))),
        min(h, int(np.ceil(y + bh + my))),
    )


@dataclass
class FrameDecision:
    redact: list[tuple[float, float, float, float]]  # x, y, w, h
    kept: int


def decide(image: np.ndarray, engine: FaceEngine, subject: Subject | None) -> FrameDecision:
    """Which detected faces to redact in this image (all but the subject's)."""
    faces = engine.detect(image)
    if not faces:
        return FrameDecision([], 0)
    if subject is None:
        return FrameDecision([f.box for f in faces], 0)
    crops = [align_face(image, f.landmarks) for f in faces]
    scores = subject.scores(engine.embed_crops(crops))
    keep = scores >= subject.threshold
    return FrameDecision(
        [f.box for f, k in zip(faces, keep, strict=True) if not k], int(keep.sum())
    )


def redact_image(
    image: np.ndarray,
    engine: FaceEngine,
    subject: Subject | None = None,
    masks: Sequence[Polygon] = (),
    margin: float = 0.25,
) -> tuple[np.ndarray, FrameDecision]:
    """A redacted copy of `image`: other faces pixelated, masks blacked out."""
    out = image.copy()
    d = decide(image, engine, subject)
    h, w = out.shape[:2]
    for b in d.redact:
        pixelate(out, _grow(b, margin, w, h))
    return black_out(out, list(masks)), d


@dataclass
class RedactionResult:
    path: Path
    frames: int = 0
    detections: int = 0  # frames the detector ran on
    faces_redacted: int = 0  # face boxes pixelated, summed over detection frames
    faces_kept: int = 0
    seconds: float = 0.0  # wall time of the whole redaction
    duration_s: float = 0.0  # length of the clip
    width: int = 0
    height: int = 0
    fps: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def speed(self) -> float:
        """Clip seconds redacted per wall-clock second (1.0 = real time)."""
        return self.duration_s / self.seconds if self.seconds else 0.0


def part_path(dst: Path) -> Path:
    """Where `redact_clip` writes `dst` until it is complete."""
    return dst.with_name(f".{dst.name}.part")


def redact_clip(
    src: Path,
    dst: Path,
    engine: FaceEngine,
    *,
    subject: Subject | None = None,
    masks: Sequence[Polygon] = (),
    detect_every: int = 1,
    margin: float = 0.25,
    crf: int = 20,
    preset: str = "veryfast",
    threads: int = 0,
    progress: Callable[[float], None] | None = None,
    find: Callable[[np.ndarray], FrameDecision] | None = None,
    max_width: int | None = None,
    fragment_s: float | None = None,
    start_s: float = 0.0,
) -> RedactionResult:
    """Re-encode `src` into `dst` (libx264) with other faces pixelated and masks blacked out.
    `find(frame)`, when given, decides the boxes instead of the face detector (privacy view);
    `max_width` scales wider frames down (while decoding) before anything else.
    `fragment_s` writes a fragmented MP4 (a keyframe and a fragment every `fragment_s`
    seconds, flushed as written) into `.<dst name>.part` beside `dst`, so a reader can serve
    the file while it grows; it is renamed to `dst` when complete. `start_s` > 0 leaves out
    the frames before that offset (decoding from the keyframe before it); the copy's time 0
    is then the first frame at or after `start_s`."""
    src, dst = Path(src), Path(dst)
    if src.resolve() == dst.resolve():
        raise InputError("redaction writes a new file; the original is never modified")
    if detect_every < 1:
        raise InputError("detect_every must be at least 1")
    t_start = time.perf_counter()
    try:
        inp = av.open(str(src))
    except (OSError, av.error.FFmpegError) as exc:
        raise InputError(f"cannot open {src}: {exc}") from exc
    result = RedactionResult(dst)
    tmp = part_path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        with inp:
            vs = inp.streams.video[0]
            tb = stream_time_base(vs)
            vs.thread_type = "AUTO"
            if threads:
                vs.codec_context.thread_count = threads
            # The frame rate of the footage, not the clip's average: a gap in the clip lowers
            # the average (frames / duration), and it only sizes GOPs and rate control here.
            # Frames keep their own timestamps, in the source's time base (below).
            rate = vs.guessed_rate or vs.average_rate or 25
            total = vs.frames or 0
            result.fps = float(rate)
            fmt_opts: dict[str, str] = {}
            if fragment_s:
                fmt_opts = {
                    "movflags": "frag_keyframe+empty_moov+default_base_moof",
                    "flush_packets": "1",
                }
            with av.open(str(tmp), "w", format="mp4", options=fmt_opts) as out:
                ost = out.add_stream("libx264", rate=rate)
                ost.pix_fmt = "yuv420p"
                # The encoder counts in the source's time base: in 1/rate, two frames either
                # side of a gap in a clip whose rate is off could round to one timestamp, and
                # the muxer refuses the clip ("non monotonically increasing dts").
                ost.codec_context.time_base = tb
                ost.time_base = tb
                opts: dict[str, object] = {"crf": str(crf), "preset": preset}
                if threads:
                    opts["threads"] = str(threads)
                if fragment_s:
                    gop = max(1, round(float(rate) * fragment_s))
                    opts.update({"g": str(gop), "keyint_min": str(gop), "sc_threshold": "0"})
                ost.options = opts
                history: list[list[tuple[float, float, float, float]]] = []
                first_pts: int | None = None
                frames: Iterator[av.VideoFrame]
                if start_s > 0:
                    start_pts = (vs.start_time or 0) + round(start_s / tb)
                    inp.seek(start_pts, stream=vs, backward=True)
                    frames = (f for f in inp.decode(vs) if f.pts is None or f.pts >= start_pts)
                else:
                    frames = inp.decode(vs)
                last_pts = -1
                step = 0  # the last frame's duration (source ticks), for the clip's length
                for i, frame in enumerate(frames):
                    if max_width and frame.width > max_width:
                        scaled_h = round(frame.height * max_width / frame.width / 2) * 2
                        img = frame.to_ndarray(format="bgr24", width=max_width, height=scaled_h)
                    else:
                        img = frame.to_ndarray(format="bgr24")
                    h, w = img.shape[:2]
                    if i == 0:
                        ost.width, ost.height = w - w % 2, h - h % 2
                        result.width, result.height = w, h
                    if i % detect_every == 0:
                        d = find(img) if find else decide(img, engine, subject)
                        history = [*history[-1:], d.redact]
                        result.detections += 1
                        result.faces_redacted += len(d.redact)
                        result.faces_kept += d.kept
                    grow = margin + 0.05 * (detect_every - 1)
                    for boxes in history:
                        for b in boxes:
                            pixelate(img, _grow(b, grow, w, h))
                    if masks:
                        img = black_out(img, list(masks))
                    nf = av.VideoFrame.from_ndarray(
                        np.ascontiguousarray(img[: h - h % 2, : w - w % 2], np.uint8), "bgr24"
                    )
                    pts = frame.pts if frame.pts is not None else i
                    if first_pts is None:
                        first_pts = pts
                    pts = max(pts - first_pts, last_pts + 1)
                    nf.pts, nf.time_base = pts, tb
                    if last_pts >= 0:
                        step = pts - last_pts
                    last_pts = pts
                    for pkt in ost.encode(nf):
                        out.mux(pkt)
                    result.frames += 1
                    if progress and total:
                        progress(min(1.0, result.frames / total))
                for pkt in ost.encode():
                    out.mux(pkt)
            if result.frames == 0:
                raise InputError(f"{src} has no video frames")
            # From the timestamps: a gap in the clip is part of its length.
            last = last_pts + (step or round(1 / (float(rate) * tb)))
            result.duration_s = float(last * tb)
        tmp.replace(dst)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    result.seconds = time.perf_counter() - t_start
    return result
