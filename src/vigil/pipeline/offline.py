"""Offline analysis of a video file: what `vigil analyze` and `vigil eval video` both run.

`evaluate_video` runs it against a truth file (`vigil eval video`, `vigil bench pipeline`, the
accuracy tests).

`analyse_file` feeds every analysis frame of a file to a `CameraAnalyzer` (not paced to real
time), ends the tracks at the end of the file and returns the events, one per event uid: a
known person is announced while their track goes on and completed under the same uid when it
ends, and only the completed event is kept.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from vigil.camera.source import AnalysisFrame, SourceError, analysis_frames
from vigil.errors import InputError
from vigil.pipeline.analyzer import CameraAnalyzer, EventDraft
from vigil.pipeline.evaluation import MIN_IOU, Truth, VideoReport, evaluate, observe


def one_per_uid(events: list[EventDraft]) -> list[EventDraft]:
    """The last event of each uid (the completed one), in time order; events without a uid
    (zone changes) are all kept."""
    last: dict[str, int] = {}
    for i, e in enumerate(events):
        if e.uid is not None:
            last[e.uid] = i
    kept = [e for i, e in enumerate(events) if e.uid is None or last[e.uid] == i]
    return sorted(kept, key=lambda e: e.start)


def analyse_file(
    video: Path,
    analyzer: CameraAnalyzer,
    fps: float,
    on_frame: Callable[[AnalysisFrame], None] | None = None,
    max_width: int = 640,
) -> list[EventDraft]:
    """Run `analyzer` over every analysis frame of `video`; `on_frame` is called after each
    frame is analysed (drawing, collecting boxes, progress)."""
    if not video.is_file():
        raise InputError(f"{video}: file not found")
    events: list[EventDraft] = []
    try:
        for frame in analysis_frames(
            str(video), fps=fps, max_width=max_width, reconnect=False, pace=False
        ):
            events += analyzer.process(frame.image, frame.pts_seconds)
            if on_frame is not None:
                on_frame(frame)
    except SourceError as exc:
        raise InputError(f"{video}: {exc}") from exc
    events += analyzer.finish()
    return one_per_uid(events)


def evaluate_video(
    video: Path,
    truth: Truth,
    analyzer: CameraAnalyzer,
    fps: float = 5.0,
    max_width: int = 640,
    min_iou: float = MIN_IOU,
    progress: Callable[[float], None] | None = None,
    keep_events: list[EventDraft] | None = None,
) -> tuple[VideoReport, int]:
    """The analysis of `video` scored against `truth`, and how many frames were analysed.
    `progress` is told the seconds of the clip done; `keep_events` receives the events."""
    frames: dict[float, list] = {}
    width: list[int] = []

    def collect(frame: AnalysisFrame) -> None:
        t = frame.pts_seconds
        width[:] = [frame.image.shape[1]]
        tracks = analyzer.people.tracks
        frames[t] = [(tr.id, tr.path[-1][1]) for tr in tracks if tr.last_seen == t]
        if progress is not None:
            progress(t)

    events = analyse_file(video, analyzer, fps, collect, max_width=max_width)
    if keep_events is not None:
        keep_events += events
    scale = truth.width / width[0] if width else 1.0
    t0 = min(frames, default=0.0)
    return evaluate(truth, observe(frames, events, scale, t0), min_iou), len(frames)
