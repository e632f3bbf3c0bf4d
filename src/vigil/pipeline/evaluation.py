"""Measuring person analysis on a clip against hand-made truth (`vigil eval video`).

The truth (`Truth`, a JSON file; `docs/eval-truth.md`) gives key frames with people's boxes and
track ids, walk-throughs with the named lines they crossed and which way, and zone state spans.
The analysis gives `Observed`: per analysed frame the person detections with their track ids,
and the events. `evaluate` compares them with pure functions:

- detection precision and recall at IoU >= 0.5, by box height band (pixels of the truth frame);
- count error (person events against true walk-throughs) and events per walk-through;
- identity: per true track the predicted tracks it was matched to (fragmentation) and how often
  the match changed (switches); per predicted track the true tracks it covered (merges);
- line crossings per line and direction, from the predicted tracks' foot points;
- zone span edge errors, where the truth and the analysis both have zone spans.
"""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from vigil.errors import InputError
from vigil.pipeline.tracker import Box, iou

MIN_IOU = 0.5
BANDS = (60.0, 120.0)  # box height band edges, pixels: <60, 60-120, >=120
PERSON_KINDS = ("person", "known_person", "face")

Point = tuple[Annotated[float, Field(ge=0, le=1)], Annotated[float, Field(ge=0, le=1)]]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class TruthObject(_Model):
    kind: Literal["person", "vehicle"] = "person"
    box: tuple[float, float, float, float] = Field(description="x, y, width, height in pixels")
    track: str | None = Field(None, description="who it is, the same id across key frames")
    occluded: bool = Field(False, description="partly hidden: the box is the visible part")


class KeyFrame(_Model):
    frame: Annotated[int, Field(ge=0)]
    objects: list[TruthObject] = Field(default_factory=list)


class Line(_Model):
    name: str
    a: Point
    b: Point
    counts: dict[Literal["+", "-"], Annotated[int, Field(ge=0)]] | None = Field(
        None, description="true crossings each way, when not given by walks"
    )


class Walk(_Model):
    track: str
    entry: float = Field(description="seconds from the clip's start")
    exit: float
    crossings: dict[str, Literal["+", "-"] | list[Literal["+", "-"]]] = Field(
        default_factory=dict,
        description="line name -> direction crossed (a list, in order, "
        "when crossed more than once)",
    )


class ZoneSpan(_Model):
    zone: str
    state: str
    start: float
    end: float


class Truth(_Model):
    width: Annotated[int, Field(gt=0)]
    height: Annotated[int, Field(gt=0)]
    fps: Annotated[float, Field(gt=0)]
    frames: list[KeyFrame] = Field(default_factory=list)
    min_height: Annotated[float, Field(ge=0)] = Field(
        0,
        description="people shorter than this (pixels) are not labelled, so a predicted box "
        "shorter than this that matches nobody is not counted as a false detection",
    )
    lines: list[Line] = Field(default_factory=list)
    walks: list[Walk] | None = Field(None, description="None: walk-throughs not counted")
    zones: list[ZoneSpan] = Field(default_factory=list)


def read_truth(path: Path) -> Truth:
    try:
        return Truth.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from exc
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not JSON: {exc}") from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InputError(f"{path}: {where}: {first['msg']} (see docs/eval-truth.md)") from exc


@dataclass
class Observed:
    """What the analysis gave, in truth-frame pixels and seconds."""

    frames: dict[float, list[tuple[int, Box]]] = field(default_factory=dict)  # t -> (track, box)
    event_tracks: set[int] = field(default_factory=set)  # tracks that became person events
    event_heights: list[float] = field(default_factory=list)  # each one's tallest box, pixels
    zone_spans: list[ZoneSpan] = field(default_factory=list)


@dataclass
class BandScore:
    band: str
    true_boxes: int = 0
    predicted_boxes: int = 0
    found: int = 0  # true boxes of this height matched (recall)
    correct: int = 0  # predicted boxes of this height matched (precision)
    precision: float | None = None
    recall: float | None = None


@dataclass
class LineCount:
    line: str
    direction: str
    true: int
    predicted: int


@dataclass
class ZoneEdges:
    zone: str
    state: str
    true_spans: int
    matched_spans: int
    mean_start_error_s: float | None
    mean_end_error_s: float | None
    max_edge_error_s: float | None


@dataclass
class VideoReport:
    min_iou: float
    key_frames: int
    key_frames_evaluated: int
    bands: list[BandScore]
    precision: float | None
    recall: float | None
    walks: int | None
    person_events: int
    count_error: int | None
    events_per_walk: float | None
    true_tracks_matched: int
    fragmentation: float | None  # predicted tracks per matched true track
    identity_switches: int
    merges: int  # extra true tracks covered by one predicted track, summed
    duplicates: int  # unmatched predicted boxes on a person another box matched (two on one)
    lines: list[LineCount]
    zones: list[ZoneEdges]

    def tall(self) -> tuple[float, float]:
        """Precision and recall for people at least 60 px tall (the bands above the lowest)."""
        bands = [b for b in self.bands if not b.band.startswith("<")]  # 60-120, >=120
        predicted = sum(b.predicted_boxes for b in bands)
        true = sum(b.true_boxes for b in bands)
        return (
            sum(b.correct for b in bands) / predicted if predicted else 0.0,
            sum(b.found for b in bands) / true if true else 0.0,
        )

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def band_of(height: float, edges: tuple[float, ...] = BANDS) -> str:
    lo = 0.0
    for edge in edges:
        if height < edge:
            return f"{lo:g}-{edge:g}" if lo else f"<{edge:g}"
        lo = edge
    return f">={lo:g}"


def band_names(edges: tuple[float, ...] = BANDS) -> list[str]:
    return [band_of(e - 0.5, edges) for e in edges] + [band_of(edges[-1], edges)]


def match_boxes(
    truth: list[Box], predicted: list[Box], min_iou: float = MIN_IOU
) -> list[tuple[int, int]]:
    """One-to-one pairs (truth index, predicted index) with IoU >= min_iou, most overlap first
    (Hungarian on IoU)."""
    if not truth or not predicted:
        return []
    from scipy.optimize import linear_sum_assignment

    overlap = np.array([[iou(t, p) for p in predicted] for t in truth])
    rows, cols = linear_sum_assignment(-overlap)
    return [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if overlap[r, c] >= min_iou]


def nearest_frame(times: list[float], t: float, tolerance: float) -> float | None:
    """The analysed frame time nearest to t, if within tolerance."""
    if not times:
        return None
    i = int(np.searchsorted(times, t))
    best = min((times[j] for j in (i - 1, i) if 0 <= j < len(times)), key=lambda x: abs(x - t))
    return best if abs(best - t) <= tolerance else None


def _ratio(a: int, b: int) -> float | None:
    return a / b if b else None


def detection_and_identity(
    truth: Truth, observed: Observed, min_iou: float = MIN_IOU, edges: tuple[float, ...] = BANDS
) -> dict[str, object]:
    """Per key frame: match the truth's people to the analysed frame nearest in time (within
    half a truth frame); score by height band and follow who was matched to whom."""
    times = sorted(observed.frames)
    bands = {name: BandScore(name) for name in band_names(edges)}
    true_to_pred: dict[str, list[int]] = defaultdict(list)  # in time order
    pred_to_true: dict[int, set[str]] = defaultdict(set)
    evaluated = duplicates = 0
    for kf in sorted(truth.frames, key=lambda k: k.frame):
        at = nearest_frame(times, kf.frame / truth.fps, 0.5 / truth.fps)
        if at is None:
            continue
        evaluated += 1
        people = [o for o in kf.objects if o.kind == "person"]
        seen = observed.frames[at]
        pairs = match_boxes([o.box for o in people], [b for _, b in seen], min_iou)
        for o in people:
            bands[band_of(o.box[3], edges)].true_boxes += 1
        paired = {pi for _, pi in pairs}
        duplicates += sum(
            any(iou(b, people[ti].box) >= min_iou for ti, _ in pairs)
            for i, (_, b) in enumerate(seen)
            if i not in paired
        )
        for i, (_, b) in enumerate(seen):
            if i in paired or b[3] >= truth.min_height:  # else perhaps someone not labelled
                bands[band_of(b[3], edges)].predicted_boxes += 1
        for ti, pi in pairs:
            # Recall by the true box's height, precision by the predicted box's: a detector's
            # box may be taller than the person (HOG's is its window).
            bands[band_of(people[ti].box[3], edges)].found += 1
            bands[band_of(seen[pi][1][3], edges)].correct += 1
            track, who = seen[pi][0], people[ti].track
            if who is not None:
                true_to_pred[who].append(track)
                pred_to_true[track].add(who)
    for s in bands.values():
        s.precision = _ratio(s.correct, s.predicted_boxes)
        s.recall = _ratio(s.found, s.true_boxes)
    switches = sum(sum(a != b for a, b in itertools.pairwise(ids)) for ids in true_to_pred.values())
    matched_true = len(true_to_pred)
    return {
        "key_frames": len(truth.frames),
        "key_frames_evaluated": evaluated,
        "bands": list(bands.values()),
        "precision": _ratio(
            sum(s.correct for s in bands.values()), sum(s.predicted_boxes for s in bands.values())
        ),
        "recall": _ratio(
            sum(s.found for s in bands.values()), sum(s.true_boxes for s in bands.values())
        ),
        "true_tracks_matched": matched_true,
        "fragmentation": (
            sum(len(set(ids)) for ids in true_to_pred.values()) / matched_true
            if matched_true
            else None
        ),
        "identity_switches": switches,
        "merges": sum(len(who) - 1 for who in pred_to_true.values()),
        "duplicates": duplicates,
    }


def _side(a: tuple[float, float], b: tuple[float, float], p: tuple[float, float]) -> float:
    """> 0: p lies to the right of a->b as seen on screen (y grows downwards)."""
    return (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0])


def crossing(
    a: tuple[float, float], b: tuple[float, float], p: tuple[float, float], q: tuple[float, float]
) -> str | None:
    """'+' when the step p->q crosses segment a-b from its left to its right (on screen, y
    down: for a line drawn left to right, '+' is downwards), '-' the other way, None when it
    does not cross."""
    s0, s1 = _side(a, b, p), _side(a, b, q)
    if (s0 > 0) == (s1 > 0):  # a point on the line counts as on its left
        return None
    t0, t1 = _side(p, q, a), _side(p, q, b)
    if (t0 > 0) == (t1 > 0) and t0 != 0 and t1 != 0:
        return None  # the line's ends lie on one side of the step: it passes beside the line
    return "+" if s1 > 0 else "-"


def _directions(walk: Walk, line: str) -> list[str]:
    d = walk.crossings.get(line, [])
    return [d] if isinstance(d, str) else list(d)


def track_paths(observed: Observed) -> dict[int, list[tuple[float, Box]]]:
    paths: dict[int, list[tuple[float, Box]]] = defaultdict(list)
    for t in sorted(observed.frames):
        for track, box in observed.frames[t]:
            if not observed.event_tracks or track in observed.event_tracks:
                paths[track].append((t, box))
    return paths


def line_counts(truth: Truth, observed: Observed) -> list[LineCount]:
    """Crossings of each truth line each way: true (from the walks) and predicted (from the
    foot point, bottom centre of the box, of each predicted track that became an event)."""
    w, h = truth.width, truth.height
    paths = track_paths(observed)
    out = []
    for line in truth.lines:
        a, b = (line.a[0] * w, line.a[1] * h), (line.b[0] * w, line.b[1] * h)
        predicted = {"+": 0, "-": 0}
        for path in paths.values():
            feet = [(x + bw / 2, y + bh) for _, (x, y, bw, bh) in path]
            for p, q in itertools.pairwise(feet):
                d = crossing(a, b, p, q)
                if d:
                    predicted[d] += 1
        directions: tuple[Literal["+", "-"], ...] = ("+", "-")
        for d in directions:
            if line.counts is not None:
                true = line.counts.get(d, 0)
            else:
                true = sum(_directions(w, line.name).count(d) for w in truth.walks or [])
            out.append(LineCount(line.name, d, true, predicted[d]))
    return out


def zone_edges(truth: list[ZoneSpan], predicted: list[ZoneSpan]) -> list[ZoneEdges]:
    """For each true span, the predicted span of the same zone and state that overlaps it most;
    how far its start and end are from the truth's (seconds). Unmatched spans add no error but
    lower `matched_spans`."""
    groups: dict[tuple[str, str], list[ZoneSpan]] = defaultdict(list)
    for s in truth:
        groups[s.zone, s.state].append(s)
    out = []
    for (zone, state), spans in sorted(groups.items()):
        starts, ends = [], []
        for s in spans:
            same = [p for p in predicted if p.zone == zone and p.state == state]
            overlap = [(min(s.end, p.end) - max(s.start, p.start), p) for p in same]
            overlap = [(o, p) for o, p in overlap if o > 0]
            if overlap:
                p = max(overlap, key=lambda x: x[0])[1]
                starts.append(abs(p.start - s.start))
                ends.append(abs(p.end - s.end))
        out.append(
            ZoneEdges(
                zone,
                state,
                len(spans),
                len(starts),
                float(np.mean(starts)) if starts else None,
                float(np.mean(ends)) if ends else None,
                max(starts + ends) if starts else None,
            )
        )
    return out


def evaluate(
    truth: Truth, observed: Observed, min_iou: float = MIN_IOU, edges: tuple[float, ...] = BANDS
) -> VideoReport:
    det = detection_and_identity(truth, observed, min_iou, edges)
    walks = None if truth.walks is None else len(truth.walks)
    # Walk-throughs are of people labelled (at least min_height tall): so are the events counted.
    events = sum(h >= truth.min_height for h in observed.event_heights)
    return VideoReport(
        min_iou=min_iou,
        **det,  # type: ignore[arg-type]
        walks=walks,
        person_events=events,
        count_error=None if walks is None else events - walks,
        events_per_walk=_ratio(events, walks or 0),
        lines=line_counts(truth, observed),
        zones=zone_edges(truth.zones, observed.zone_spans) if truth.zones else [],
    )


def observe(
    frames: dict[float, list[tuple[int, Box]]],
    events: list,
    scale: float = 1.0,
    t0: float = 0.0,
) -> Observed:
    """`Observed` from the analysis: per-frame (track, box) at analysis size, times in stream
    seconds, and `EventDraft`s; boxes scaled by `scale` to truth pixels, times made relative to
    `t0` (the clip's first frame)."""
    people = [e for e in events if e.kind in PERSON_KINDS]
    return Observed(
        frames={
            t - t0: [(k, (x * scale, y * scale, w * scale, h * scale)) for k, (x, y, w, h) in boxes]
            for t, boxes in frames.items()
        },
        event_tracks={e.track_id for e in people},
        event_heights=[max((b[3] * scale for _, b in e.box_path), default=0.0) for e in people],
        zone_spans=[
            ZoneSpan(
                zone=e.zone, state=str(e.details.get("state")), start=e.start - t0, end=e.end - t0
            )
            for e in events
            if e.kind == "zone_change" and e.zone
        ],
    )


def plot_report(report: VideoReport, out: Path) -> Path:
    """Precision and recall per height band (bars), and counts: walks, events, crossings."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4.2), dpi=110)
    names = [b.band for b in report.bands]
    x = np.arange(len(names))
    prec = [b.precision or 0.0 for b in report.bands]
    rec = [b.recall or 0.0 for b in report.bands]
    ax1.bar(x - 0.2, prec, 0.4, label="precision")
    ax1.bar(x + 0.2, rec, 0.4, label="recall")
    ax1.set_xticks(
        x, [f"{n} px\n({b.true_boxes} true)" for n, b in zip(names, report.bands, strict=True)]
    )
    ax1.set_ylim(0, 1.05)
    ax1.set_title(f"Person detection at IoU >= {report.min_iou:g}, by box height")
    ax1.legend(loc="upper left", fontsize=8)
    ax1.grid(True, axis="y", alpha=0.3)
    # People: true walk-throughs against person events (no truth bar when not counted).
    labels = ["people"]
    true_v = [report.walks or 0]
    pred_v = [report.person_events]
    for lc in report.lines:
        labels.append(f"{lc.line} {lc.direction}")
        true_v.append(lc.true)
        pred_v.append(lc.predicted)
    x2 = np.arange(len(labels))
    ax2.bar(x2 - 0.2, true_v, 0.4, label="truth")
    ax2.bar(x2 + 0.2, pred_v, 0.4, label="analysis")
    ax2.set_xticks(x2, labels, rotation=30, ha="right", fontsize=8)
    ax2.set_title(
        f"Counts (switches {report.identity_switches}, merges {report.merges}"
        + (f", fragmentation {report.fragmentation:.2f})" if report.fragmentation else ")")
    )
    ax2.legend(fontsize=8)
    ax2.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out
