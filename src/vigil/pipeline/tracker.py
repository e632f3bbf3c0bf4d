"""Multi-object tracking by box overlap with constant-velocity prediction (SORT-style).

One person walking past becomes one track, so the pipeline raises one event, not thirty.
Detections are matched to predicted track boxes by IoU with the Hungarian algorithm (scipy);
each track's centre and size follow an alpha-beta filter. Overlap alone cannot tell two people
apart at the same place (a scene cut, a crossing), so the caller may veto a pairing (`Gate`, the
analyzer compares faces): the box then starts a new track and the rest are paired again.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

Box = tuple[float, float, float, float]  # x, y, width, height
# gate(track, box index, ambiguous) -> may this box continue this track? `ambiguous`: the box
# overlaps another track too, or the track another box (a crossing).
Gate = Callable[["Track", int, bool], bool]


def iou(a: Box, b: Box) -> float:
    ax1, ay1, ax2, ay2 = a[0], a[1], a[0] + a[2], a[1] + a[3]
    bx1, by1, bx2, by2 = b[0], b[1], b[0] + b[2], b[1] + b[3]
    iw = max(0.0, min(ax2, bx2) - max(ax1, bx1))
    ih = max(0.0, min(ay2, by2) - max(ay1, by1))
    inter = iw * ih
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


@dataclass
class Track:
    id: int
    state: np.ndarray  # cx, cy, w, h
    velocity: np.ndarray  # per second
    first_seen: float
    last_seen: float
    hits: int = 1
    misses: int = 0
    path: list[tuple[float, Box]] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)  # what the pipeline keeps (best face...)

    @property
    def box(self) -> Box:
        cx, cy, w, h = self.state.tolist()
        return (cx - w / 2, cy - h / 2, w, h)

    def predicted(self, t: float) -> Box:
        cx, cy, w, h = (self.state + self.velocity * (t - self.last_seen)).tolist()
        return (cx - w / 2, cy - h / 2, max(w, 1.0), max(h, 1.0))


def _centre(box: Box) -> np.ndarray:
    return np.array([box[0] + box[2] / 2, box[1] + box[3] / 2, box[2], box[3]], float)


class Tracker:
    def __init__(
        self,
        min_iou: float = 0.2,
        max_missed_s: float = 1.5,
        min_hits: int = 2,
        alpha: float = 0.6,
        beta: float = 0.2,
        ids: Iterator[int] | None = None,
    ) -> None:
        self.min_iou = min_iou
        self.max_missed_s = max_missed_s
        self.min_hits = min_hits  # a track needs this many detections to count as real
        self.alpha, self.beta = alpha, beta
        self.tracks: list[Track] = []
        self._ids = ids or itertools.count(1)  # share one counter for unique ids across trackers

    def update(
        self, boxes: list[Box], t: float, gate: Gate | None = None
    ) -> tuple[list[Track], list[Track]]:
        """Feed one frame's detections at time t (seconds). Returns (matched, finished):
        the tracks each box was assigned to (same order as `boxes`) and confirmed tracks that
        ended because nothing matched them for `max_missed_s`. A pairing `gate` refuses is
        never made: that box starts a new track."""
        matched: list[Track | None] = [None] * len(boxes)
        if self.tracks and boxes:
            overlap = np.array([[iou(tr.predicted(t), b) for b in boxes] for tr in self.tracks])
            for r, c in self._assign(overlap, gate):
                self._correct(self.tracks[r], boxes[c], t)
                matched[c] = self.tracks[r]
        for i, b in enumerate(boxes):
            if matched[i] is None:
                track = Track(next(self._ids), _centre(b), np.zeros(4), t, t, path=[(t, b)])
                self.tracks.append(track)
                matched[i] = track
        finished, alive = [], []
        for tr in self.tracks:
            if tr.last_seen < t:
                tr.misses += 1
            if t - tr.last_seen > self.max_missed_s:
                if tr.hits >= self.min_hits:
                    finished.append(tr)
            else:
                alive.append(tr)
        self.tracks = alive
        return [m for m in matched if m is not None], finished

    def _assign(self, overlap: np.ndarray, gate: Gate | None) -> list[tuple[int, int]]:
        """Hungarian pairing on overlap; pairs the gate refuses are barred and the rest paired
        again, so after a crossing each box can still find its own track."""
        allowed = overlap >= self.min_iou
        ambiguous = (allowed.sum(0, keepdims=True) > 1) | (allowed.sum(1, keepdims=True) > 1)
        cost = 1.0 - overlap
        decided: dict[tuple[int, int], bool] = {}
        while True:
            rows, cols = linear_sum_assignment(cost)
            pairs = [(r, c) for r, c in zip(rows, cols, strict=True) if allowed[r, c]]
            if gate is None:
                return pairs
            for r, c in pairs:
                if (r, c) not in decided:
                    decided[r, c] = gate(self.tracks[r], int(c), bool(ambiguous[r, c]))
            refused = [(r, c) for r, c in pairs if not decided[r, c]]
            if not refused:
                return pairs
            for r, c in refused:
                allowed[r, c] = False
                cost[r, c] = 2.0  # worse than leaving both unpaired

    def flush(self) -> list[Track]:
        """End every confirmed track (end of a video or shutdown)."""
        done = [tr for tr in self.tracks if tr.hits >= self.min_hits]
        self.tracks = []
        return done

    def _correct(self, tr: Track, box: Box, t: float) -> None:
        dt = max(t - tr.last_seen, 1e-3)
        predicted = tr.state + tr.velocity * dt
        residual = _centre(box) - predicted
        tr.state = predicted + self.alpha * residual
        tr.velocity = tr.velocity + (self.beta / dt) * residual
        tr.last_seen = t
        tr.hits += 1
        tr.misses = 0
        tr.path.append((t, box))
