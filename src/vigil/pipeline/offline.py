"""Offline analysis of a video file: what `vigil analyze` and `vigil eval video` both run.

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
