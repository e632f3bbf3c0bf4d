"""Motion detection on small grey frames, motion regions, and motion events.

`MotionDetector.detect(frame)` compares a small grey copy of each frame (320 px wide by
default) with a running-average background: pixels that differ by more than a
sensitivity-dependent threshold are foreground; motion masks (polygons, fractions 0..1) are
cleared; an opening removes noise, a dilation joins the parts of one moving thing; blobs
smaller than a sensitivity-dependent share of the frame are ignored. It returns the share of
the unmasked frame that moved and the blobs' bounding boxes (fractions of the frame, so they
apply to the main stream as well as to the sub-stream they were found on). `regions(image)`
gives the same boxes in the image's pixels (the analyzer's motion-gate protocol).

A sudden change of most of the frame (lights switched, camera moved, IR switching) is not
motion: the background is re-learnt from that frame. It is a scene cut (what was tracked is
gone) only when the picture's structure changed too: a light change keeps the edges where
they were (their correlation with the background's stays >= `EDGES_KEPT`, 0.74 or more for
vtest.avi at half or double brightness or a 0.4..1.2 gradient across it), a camera turned or
moved by 3 px or more at 320 px wide, covered or swapped does not (0.59 and below).

`MotionEvents` turns per-frame results into events (start, end, peak area) and stores them
in `motion_events`: a row appears when motion starts (end NULL while it lasts) and is
completed when the scene has been still for `end_after_s`.

`analyse_stream` runs both on a stream at a few frames a second, decoding as little as it
can (see `camera.source.analysis_frames`: frames are scaled to grey only when picked, and
only keyframes are decoded when they come often enough).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import cv2
import numpy as np

from vigil.camera.source import analysis_frames
from vigil.config import MotionConfig
from vigil.store.db import Database
from vigil.store.models.camera import MotionEvent

Polygon = list[tuple[float, float]]
Box = tuple[float, float, float, float]  # x, y, width, height
EDGES_KEPT = 0.65  # edge correlation with the background above which a global change is light


@dataclass
class MotionResult:
    """Motion in one frame."""

    area: float  # share of the unmasked frame that moved, 0..1
    boxes: list[Box] = field(default_factory=list)  # fractions of the frame width/height
    relearned: bool = False  # a global change (lights, camera moved): background reset
    scene_cut: bool = False  # ... and the picture is another one (moved, covered, swapped)

    @property
    def moving(self) -> bool:
        return bool(self.boxes)

    def pixel_boxes(self, width: int, height: int) -> list[Box]:
        return [(x * width, y * height, w * width, h * height) for x, y, w, h in self.boxes]


class MotionDetector:
    """Frame differencing against a running-average background on a small grey frame."""

    def __init__(
        self,
        sensitivity: float = 0.5,
        masks: list[Polygon] | None = None,
        *,
        width: int = 320,
        learn_rate: float = 0.05,
        relearn_above: float = 0.7,
    ) -> None:
        if not 0 <= sensitivity <= 1:
            raise ValueError("sensitivity must be between 0 and 1")
        self.width = width
        self.masks = [list(p) for p in masks or []]
        # sensitivity 0..1: pixel difference 45 .. 10 grey levels, smallest blob 2% .. 0.02%
        self.threshold = 45 - 35 * sensitivity
        self.min_blob_share = 0.02 * (0.01**sensitivity)
        self.learn_rate = learn_rate
        self.relearn_above = relearn_above
        self.last: MotionResult | None = None  # what `regions` saw last (for motion events)
        self._bg: np.ndarray | None = None  # float32 running average
        self._keep: np.ndarray | None = None  # 1 where motion counts, 0 in masks
        self._keep_pixels = 0
        self._kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
        self._join = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))

    def set_masks(self, masks: list[list[tuple[float, float]]]) -> None:
        """Ignore motion inside these polygons from the next frame on (background kept)."""
        self.masks = [list(p) for p in masks]
        self._keep = None  # rebuilt from the new polygons at the next frame

    @classmethod
    def from_config(cls, cfg: MotionConfig, *, width: int = 320) -> MotionDetector:
        return cls(cfg.sensitivity, [list(p) for p in cfg.masks], width=width)

    def _small_gray(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        if w > self.width:
            size = (self.width, max(1, round(h * self.width / w)))
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        if image.ndim == 3:
            image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        return cv2.GaussianBlur(image, (5, 5), 0)

    def _mask_for(self, shape: tuple[int, int]) -> np.ndarray:
        if self._keep is None or self._keep.shape != shape:
            keep = np.ones(shape, np.uint8)
            h, w = shape
            for poly in self.masks:
                pts = np.array([[round(x * w), round(y * h)] for x, y in poly], np.int32)
                cv2.fillPoly(keep, [pts], 0)
            self._keep = keep
            self._keep_pixels = int(keep.sum())
        return self._keep

    def reset(self) -> None:
        self._bg = None

    def detect(self, image: np.ndarray) -> MotionResult:
        """Motion in this frame (grey or BGR, any size) against the frames before it."""
        gray = self._small_gray(image)
        keep = self._mask_for(gray.shape[:2])
        if self._bg is None or self._bg.shape != gray.shape:
            self._bg = gray.astype(np.float32)
            return MotionResult(0.0)
        diff = cv2.absdiff(gray, cv2.convertScaleAbs(self._bg))
        _, fg = cv2.threshold(diff, self.threshold, 1, cv2.THRESH_BINARY)
        if self.masks:
            fg &= keep
        # Moving pixels are learnt slowly, still ones quickly: a person standing still
        # fades into the background over a few seconds, not in one frame.
        cv2.accumulateWeighted(gray, self._bg, self.learn_rate, mask=1 - fg)
        cv2.accumulateWeighted(gray, self._bg, self.learn_rate / 10, mask=fg)
        if self._keep_pixels == 0:
            return MotionResult(0.0)
        changed = int(fg.sum()) / self._keep_pixels
        if changed > self.relearn_above:
            cut = _edge_correlation(gray, self._bg, keep) < EDGES_KEPT
            self._bg = gray.astype(np.float32)
            return MotionResult(0.0, relearned=True, scene_cut=cut)
        fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, self._kernel)
        joined = cv2.dilate(fg, self._join, iterations=2)
        n, labels, stats, _ = cv2.connectedComponentsWithStats(joined, connectivity=8)
        h, w = fg.shape
        min_area = self.min_blob_share * h * w
        kept = [i for i in range(1, n) if stats[i, cv2.CC_STAT_AREA] >= min_area]
        if not kept:
            return MotionResult(0.0)
        boxes: list[Box] = [
            (x / w, y / h, bw / w, bh / h) for x, y, bw, bh, _ in stats[kept].tolist()
        ]
        # the area is the moving pixels inside kept blobs (the dilation only joins them)
        moved = int(fg[np.isin(labels, kept)].sum()) if len(kept) < n - 1 else int(fg.sum())
        return MotionResult(min(1.0, moved / self._keep_pixels), boxes)

    @property
    def cut(self) -> bool:
        """The last frame is another picture (a scene cut, the camera moved or was covered):
        whatever was tracked before it is not in it. A light change is not a cut."""
        return self.last is not None and self.last.scene_cut

    def regions(self, image: np.ndarray) -> list[Box]:
        """Boxes (pixels of `image`) where something moved; [] when still. After a global
        change (a cut, the camera moved) the whole frame is one region, so that detectors
        look at the new scene once."""
        h, w = image.shape[:2]
        result = self.last = self.detect(image)
        if result.relearned:
            return [(0.0, 0.0, float(w), float(h))]
        return result.pixel_boxes(w, h)


def _edge_correlation(gray: np.ndarray, background: np.ndarray, keep: np.ndarray) -> float:
    """Normalised correlation of the two pictures' edge strength (Sobel) outside the masks:
    near 1 for the same scene in other light, near 0 for another scene; 0 for a flat one."""

    def edges(image: np.ndarray) -> np.ndarray:
        image = image.astype(np.float32)
        sobel = cv2.magnitude(
            cv2.Sobel(image, cv2.CV_32F, 1, 0), cv2.Sobel(image, cv2.CV_32F, 0, 1)
        )
        values = sobel[keep > 0]
        return values - values.mean()

    a, b = edges(gray), edges(background)
    norm = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum()) / norm if norm > 0 else 0.0


@dataclass
class MotionEventInfo:
    camera: str
    start: datetime
    end: datetime | None
    peak_area: float
    frames: int = 0
    event_id: int | None = None


EventListener = Callable[[MotionEventInfo], None]


class MotionEvents:
    """Turns per-frame motion into events and stores them (when given a database).

    An event starts at the first of `start_frames` consecutive moving frames whose area is at
    least `min_area`, lasts while motion continues, and ends at the last moving frame once
    the scene has been still for `end_after_s`."""

    def __init__(
        self,
        camera: str,
        db: Database | None = None,
        *,
        start_frames: int = 2,
        end_after_s: float = 3.0,
        min_area: float = 0.0,
        on_event: EventListener | None = None,
    ) -> None:
        self.camera = camera
        self.db = db
        self.start_frames = start_frames
        self.end_after_s = end_after_s
        self.min_area = min_area
        self.on_event = on_event
        self.current: MotionEventInfo | None = None
        self.finished: list[MotionEventInfo] = []
        self._run: list[tuple[datetime, float]] = []  # moving frames before an event starts
        self._last_motion: datetime | None = None

    def update(self, when: datetime, result: MotionResult) -> MotionEventInfo | None:
        """Feed one frame's result; returns the event that ended at this frame, if any."""
        moving = result.moving and result.area >= self.min_area
        ended = None
        if self.current is not None:
            if moving:
                self.current.peak_area = max(self.current.peak_area, result.area)
                self.current.frames += 1
                self._last_motion = when
            elif (
                self._last_motion is not None
                and (when - self._last_motion).total_seconds() >= self.end_after_s
            ):
                ended = self._end(self._last_motion)
            return ended
        if not moving:
            self._run.clear()
            return None
        self._run.append((when, result.area))
        if len(self._run) >= self.start_frames:
            start = self._run[0][0]
            self.current = MotionEventInfo(
                self.camera, start, None, max(a for _, a in self._run), len(self._run)
            )
            self._last_motion = when
            self._run.clear()
            self.current.event_id = self._insert(self.current)
        return None

    def finish(self) -> MotionEventInfo | None:
        """End the event in progress (the stream stopped)."""
        if self.current is None:
            return None
        return self._end(self._last_motion or self.current.start)

    def _end(self, end: datetime) -> MotionEventInfo:
        event, self.current = self.current, None
        assert event is not None
        event.end = end
        self.finished.append(event)
        if self.db is not None and event.event_id is not None:
            with self.db.session() as s:
                row = s.get(MotionEvent, event.event_id)
                if row is not None:
                    row.end, row.peak_area = end, round(event.peak_area, 5)
        if self.on_event is not None:
            self.on_event(event)
        return event

    def _insert(self, event: MotionEventInfo) -> int | None:
        if self.db is None:
            return None
        with self.db.session() as s:
            row = MotionEvent(
                camera=event.camera, start=event.start, end=None, peak_area=event.peak_area
            )
            s.add(row)
            s.flush()
            return row.id


def motion_events_between(
    db: Database, camera: str, start: datetime, end: datetime
) -> list[MotionEvent]:
    """Stored motion events of a camera overlapping [start, end), oldest first (open ones too)."""
    from sqlalchemy import or_, select

    with db.session() as s:
        return list(
            s.scalars(
                select(MotionEvent)
                .where(
                    MotionEvent.camera == camera,
                    MotionEvent.start < end,
                    or_(MotionEvent.end.is_(None), MotionEvent.end >= start),
                )
                .order_by(MotionEvent.start)
            )
        )


@dataclass
class FrameMotion:
    """One analysed frame: when, what moved (boxes as fractions), the small grey image."""

    when: datetime
    result: MotionResult
    image: np.ndarray


def analyse_stream(
    camera: str,
    url: str,
    cfg: MotionConfig,
    *,
    db: Database | None = None,
    stop: threading.Event | None = None,
    width: int = 320,
    events: MotionEvents | None = None,
    stream_clock: bool = False,
    **source_options: Any,  # analysis_frames' keyword options, passed on as given
) -> Iterator[FrameMotion]:
    """Detect motion on a stream at `cfg.fps`, storing events; yields every analysed frame.

    Frames come from `analysis_frames` already grey and at most `width` wide, so the only
    full-size work is decoding. With `stream_clock`, frames are timed by the stream's own
    timestamps from the epoch (offline analysis of files); else by the wall clock."""
    detector = MotionDetector.from_config(cfg, width=width)
    events = events or MotionEvents(camera, db)
    try:
        for frame in analysis_frames(
            url,
            fps=cfg.fps,
            max_width=width,
            gray=True,
            stop=stop,
            **source_options,
        ):
            t = frame.pts_seconds if stream_clock else frame.wall_time
            when = datetime.fromtimestamp(t, UTC)
            result = detector.detect(frame.image)
            events.update(when, result)
            yield FrameMotion(when, result, frame.image)
    finally:
        events.finish()
