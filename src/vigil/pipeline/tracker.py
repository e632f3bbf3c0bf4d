"""Multi-object tracking by box overlap with a Kalman motion model (ByteTrack-style).

One person walking past becomes one track, so the pipeline raises one event, not thirty.

- Motion: each track has a constant-velocity Kalman filter on (centre x, centre y, aspect w/h,
  height), noise scaled by the box height as in ByteTrack, over real time (frames analysed at
  uneven intervals are fine); `predicted(t)` is where the track should be at time t.
- Association, in two stages, by IoU between predicted boxes and detections, paired by the
  Hungarian method (scipy): confident detections (score >= `high_score`) first, against every
  track (IoU >= `min_iou`; `lost_iou` for a track missed last frame, whose prediction is less
  sure); then the weak ones (below `high_score`) against the confirmed tracks left over, with a
  stricter overlap (`weak_iou`). A weak detection extends a track, never starts one: a person
  half hidden keeps their track, a shadow does not become a person. Then, confident detections
  still alone may continue a track they do not overlap if their centre is within one track
  height of where it should be or was last seen, at a similar size (`closeness`): frames far
  apart (at 2 fps a narrow walker moves more than their width) and people reappearing from
  behind a post. Confident detections that matched nothing start tentative tracks.
- Life: a track counts (`hits >= min_hits`) only after that many detections; a track nothing
  matched is kept (lost) for `max_missed_s` and picked up again where its motion says the person
  should be, then it ends: `update` returns the confirmed ones as finished, tentative ones vanish.
- Veto: overlap alone cannot tell two people apart at the same place (a scene cut, a crossing),
  so the caller may refuse a pairing (`Gate`, the analyzer compares faces): the rest are paired
  again, and a confident box left without a track starts a new one.
- State: the tracker knows boxes only. Each track carries `data`, what its caller keeps about it
  (a best face, an identity: `pipeline.track_state`), made by the factory the tracker was given
  when the track starts.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import numpy as np
from scipy.optimize import linear_sum_assignment

Box = tuple[float, float, float, float]  # x, y, width, height
T = TypeVar("T")  # what the caller keeps per track

# Kalman noise, as ByteTrack's (std 1/20 of the box height for positions, measured and per
# step), but per second so uneven frame intervals are handled: at 5 frames a second a step's
# position noise is h/20 and its velocity noise h/5 per second (a walker's speed is ~h/1.7).
_POS = 1 / 20  # measurement std, x height
_POS_RATE = 1 / 80  # position process variance per second, x height^2
_VEL_RATE = 1 / 5  # velocity process variance per second, x (height / s)^2
_VEL_START = 1 / 2  # a new track's velocity std, x height per second


def iou(a: Box, b: Box) -> float:
    ax1, ay1, ax2, ay2 = a[0], a[1], a[0] + a[2], a[1] + a[3]
    bx1, by1, bx2, by2 = b[0], b[1], b[0] + b[2], b[1] + b[3]
    iw = max(0.0, min(ax2, bx2) - max(ax1, bx1))
    ih = max(0.0, min(ay2, by2) - max(ay1, by1))
    inter = iw * ih
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def _measure(box: Box) -> np.ndarray:
    x, y, w, h = box
    h = max(h, 1.0)
    return np.array([x + w / 2, y + h / 2, w / h, h], float)


def _box(z: np.ndarray) -> Box:
    cx, cy, a, h = z[:4].tolist()
    h = max(h, 1.0)
    w = max(a * h, 1.0)
    return (cx - w / 2, cy - h / 2, w, h)


def _motion(dt: float) -> np.ndarray:
    f = np.eye(8)
    f[:4, 4:] = dt * np.eye(4)
    return f


_H = np.eye(4, 8)  # we measure the first four of the eight states


@dataclass
class Track(Generic[T]):
    id: int
    mean: np.ndarray  # cx, cy, aspect, height and their velocities per second
    covariance: np.ndarray  # 8 x 8
    first_seen: float
    last_seen: float
    data: T  # what the caller keeps about this track (best face, identity...)
    hits: int = 1
    misses: int = 0  # frames since the last detection
    path: list[tuple[float, Box]] = field(default_factory=list)

    @classmethod
    def start(cls, id: int, box: Box, t: float, data: T) -> Track[T]:
        z = _measure(box)
        h = z[3]
        std = [2 * _POS * h, 2 * _POS * h, 1e-2, 2 * _POS * h]
        std += [_VEL_START * h, _VEL_START * h, 1e-3, 0.1 * _VEL_START * h]
        mean = np.concatenate([z, np.zeros(4)])
        return cls(id, mean, np.diag(np.square(std)), t, t, data, path=[(t, box)])

    @property
    def box(self) -> Box:
        """Where the track was at its last detection (filtered)."""
        return _box(self.mean)

    def predicted(self, t: float) -> Box:
        """Where the track should be at time t, by its motion so far."""
        return _box(_motion(max(t - self.last_seen, 0.0)) @ self.mean)

    def _predict(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        dt = max(t - self.last_seen, 0.0)
        f = _motion(dt)
        h2 = max(self.mean[3], 1.0) ** 2
        pos, vel = _POS_RATE * h2, _VEL_RATE * h2
        q = np.array([pos, pos, 1e-4, pos, vel, vel, 1e-6, 0.1 * vel]) * dt
        return f @ self.mean, f @ self.covariance @ f.T + np.diag(q)

    def correct(self, box: Box, t: float) -> None:
        """A detection at time t continues this track."""
        mean, cov = self._predict(t)
        z = _measure(box)
        h = max(mean[3], 1.0)
        r = np.diag(np.square([_POS * h, _POS * h, 1e-1, _POS * h]))
        s = _H @ cov @ _H.T + r
        gain = np.linalg.solve(s, _H @ cov).T  # cov H' S^-1 (S and cov symmetric)
        self.mean = mean + gain @ (z - _H @ mean)
        self.covariance = (np.eye(8) - gain @ _H) @ cov
        self.last_seen = t
        self.hits += 1
        self.misses = 0
        self.path.append((t, box))


# gate(track, box index, ambiguous) -> may this box continue this track? `ambiguous`: the box
# overlaps another track too, or the track another box (a crossing).
Gate = Callable[[Track[T], int, bool], bool]


def closeness(track: Track[Any], box: Box, t: float) -> float:
    """1 - the distance between the box's centre and the track's (where it should be now or
    where it was last seen, the nearer), in units of the track's height; -1 when the sizes
    differ by more than half (another object)."""
    lh = track.path[-1][1][3]
    if not 2 / 3 <= box[3] / max(lh, 1.0) <= 1.5:
        return -1.0
    cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
    far = min(
        np.hypot(x + w / 2 - cx, y + h / 2 - cy)
        for x, y, w, h in (track.predicted(t), track.path[-1][1])
    )
    return 1.0 - far / max(lh, 1.0)


class Tracker(Generic[T]):
    """Tracks of one kind of object; `state()` makes what the caller keeps per new track."""

    def __init__(
        self,
        state: Callable[[], T],
        min_iou: float = 0.2,
        lost_iou: float = 0.1,
        max_missed_s: float = 1.5,
        min_hits: int = 2,
        high_score: float = 0.5,
        weak_iou: float = 0.4,
        max_jump: float = 0.0,
        ids: Iterator[int] | None = None,
    ) -> None:
        self.state = state
        self.min_iou = min_iou
        self.lost_iou = lost_iou  # a track missed last frame: its prediction is less sure
        self.weak_iou = weak_iou  # a weak detection must overlap its track at least this much
        self.max_missed_s = max_missed_s
        self.min_hits = min_hits  # a track needs this many detections to count as real
        self.high_score = high_score  # detections below it only extend confirmed tracks
        # closeness (1 - centre distance / box height) a lone confident box needs to continue
        # a track it does not overlap: 0 = within one box height
        self.max_jump = max_jump
        self.tracks: list[Track[T]] = []
        self._ids = ids or itertools.count(1)  # share one counter for unique ids across trackers

    def update(
        self,
        boxes: Sequence[Box],
        t: float,
        *,
        scores: Sequence[float] | None = None,
        gate: Gate[T] | None = None,
    ) -> tuple[list[Track[T] | None], list[Track[T]]]:
        """Feed one frame's detections at time t (seconds) and their scores (None: all
        confident). Returns (matched, finished): the track each box went to, in the order of
        `boxes` (None for a weak box that continued no track), and the confirmed tracks that
        ended because nothing matched them for `max_missed_s`. A pairing `gate` refuses is
        never made."""
        if scores is not None and len(scores) != len(boxes):
            raise ValueError(f"{len(boxes)} boxes but {len(scores)} scores")
        matched: list[Track[T] | None] = [None] * len(boxes)
        strong = [i for i in range(len(boxes)) if scores is None or scores[i] >= self.high_score]
        weak = [i for i in range(len(boxes)) if scores is not None and scores[i] < self.high_score]
        limits = [self.lost_iou if tr.misses else self.min_iou for tr in self.tracks]
        for tr, i in self._assign(self.tracks, boxes, strong, t, limits, gate):
            tr.correct(boxes[i], t)
            matched[i] = tr
        # Weak detections only extend tracks that count and that no confident one continued.
        free = [tr for tr in self.tracks if tr.last_seen < t and tr.hits >= self.min_hits]
        for tr, i in self._assign(free, boxes, weak, t, [self.weak_iou] * len(free), gate):
            tr.correct(boxes[i], t)
            matched[i] = tr
        # Confident detections still alone may continue a track that overlaps nothing, when
        # near where it was or should be: frames far apart (a narrow person moves more than
        # their width between them), or a person reappearing after being hidden.
        left = [i for i in strong if matched[i] is None]
        unseen = [tr for tr in self.tracks if tr.last_seen < t]
        near = [self.max_jump] * len(unseen)
        for tr, i in self._assign(unseen, boxes, left, t, near, gate, closeness):
            tr.correct(boxes[i], t)
            matched[i] = tr
        for i in strong:
            if matched[i] is None:
                track = Track.start(next(self._ids), boxes[i], t, self.state())
                self.tracks.append(track)
                matched[i] = track
        finished: list[Track[T]] = []
        alive: list[Track[T]] = []
        for tr in self.tracks:
            if tr.last_seen < t:
                tr.misses += 1
            if t - tr.last_seen > self.max_missed_s:
                if tr.hits >= self.min_hits:
                    finished.append(tr)
            else:
                alive.append(tr)
        self.tracks = alive
        return matched, finished

    def _assign(
        self,
        tracks: list[Track[T]],
        boxes: Sequence[Box],
        dets: list[int],
        t: float,
        limits: list[float],
        gate: Gate[T] | None,
        similarity: Callable[[Track[T], Box, float], float] | None = None,
    ) -> list[tuple[Track[T], int]]:
        """Hungarian pairing of `tracks` with `boxes[dets]` on `similarity` (default: overlap
        with the predicted box), at least the track's `limits`; pairs the gate refuses are
        barred and the rest paired again, so after a crossing each box can still find its own
        track."""
        if not tracks or not dets:
            return []
        similar = similarity or (lambda tr, box, t: iou(tr.predicted(t), box))
        overlap = np.array([[similar(tr, boxes[i], t) for i in dets] for tr in tracks])
        allowed = overlap >= np.array(limits)[:, None]
        ambiguous = (allowed.sum(0, keepdims=True) > 1) | (allowed.sum(1, keepdims=True) > 1)
        cost = 1.0 - overlap
        decided: dict[tuple[int, int], bool] = {}
        while True:
            rows, cols = linear_sum_assignment(cost)
            pairs = [(r, c) for r, c in zip(rows, cols, strict=True) if allowed[r, c]]
            if gate is not None:
                for r, c in pairs:
                    if (r, c) not in decided:
                        decided[r, c] = gate(tracks[r], dets[c], bool(ambiguous[r, c]))
                refused = [(r, c) for r, c in pairs if not decided[r, c]]
                if refused:
                    for r, c in refused:
                        allowed[r, c] = False
                        cost[r, c] = 2.0  # worse than leaving both unpaired
                    continue
            return [(tracks[r], dets[c]) for r, c in pairs]

    def flush(self) -> list[Track[T]]:
        """End every confirmed track (end of a video or shutdown)."""
        done = [tr for tr in self.tracks if tr.hits >= self.min_hits]
        self.tracks = []
        return done
