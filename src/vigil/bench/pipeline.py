"""`vigil bench pipeline`: analysis throughput per stage, with and without the motion gate.

Frames are decoded first (decode is measured on its own), then the same frames go through the
analyzer twice: behind the motion gate, and on every whole frame (the baseline). The camera
figure is how many cameras at 5 analysis fps the gated pipeline sustains on this machine's
cores, one analysis process per core.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import cv2
import numpy as np

from vigil.bench.report import Figure
from vigil.camera.motion import MotionDetector
from vigil.camera.source import analysis_frames
from vigil.faces.calibration import Calibration
from vigil.faces.engine import FaceEngine
from vigil.faces.matcher import Matcher, NumpyIndex
from vigil.pipeline.analyzer import CameraAnalyzer, MotionGate, StageStats, WholeFrame
from vigil.vision.person import HogPersonDetector

ANALYSIS_FPS = 5.0


def decode(video: Path, seconds: float) -> tuple[list[tuple[float, np.ndarray]], float]:
    """Frames at the analysis rate (up to `seconds` of video) and the decode rate in frames/s."""
    frames = []
    start = time.perf_counter()
    for f in analysis_frames(
        str(video), fps=ANALYSIS_FPS, max_width=768, reconnect=False, pace=False
    ):
        if f.pts_seconds > seconds:
            break
        frames.append((f.pts_seconds, f.image))
    return frames, len(frames) / (time.perf_counter() - start)


def analyse(
    frames: list[tuple[float, np.ndarray]], engine: FaceEngine, gate: MotionGate
) -> tuple[float, StageStats]:
    matcher = Matcher(NumpyIndex(128), {}, {}, Calibration.default(engine.model_name))
    analyzer = CameraAnalyzer("bench", engine, matcher, HogPersonDetector(), gate)
    start = time.perf_counter()
    for t, image in frames:
        analyzer.process(image, t)
    analyzer.finish()
    return len(frames) / (time.perf_counter() - start), analyzer.stats


def run(
    videos: dict[str, Path], seconds: float = 40.0
) -> tuple[list[Figure], dict[str, StageStats]]:
    cv2.setNumThreads(1)  # per-core figures: one analysis process per core
    engine = FaceEngine()
    figures, stages = [], {}
    cores = os.cpu_count() or 1
    for label, video in videos.items():
        frames, decode_fps = decode(video, seconds)
        gated_fps, gated = analyse(frames, engine, MotionDetector())
        whole_fps, _ = analyse(frames, engine, WholeFrame())
        stages[label] = gated
        saved = gated.gated / max(1, gated.frames)
        per_frame = 1 / gated_fps + 1 / decode_fps
        figures += [
            Figure(f"{label}: decode at {ANALYSIS_FPS:g} fps", decode_fps, "frames/s"),
            Figure(
                f"{label}: analysis, one core ({saved:.0%} of frames idle)",
                gated_fps,
                "frames/s",
                None,
                True,
                whole_fps,
                "no motion gate",
            ),
            Figure(
                f"{label}: cameras at {ANALYSIS_FPS:g} fps on {cores} cores",
                cores / per_frame / ANALYSIS_FPS,
                "cameras",
                8,
                True,
                cores / (1 / whole_fps + 1 / decode_fps) / ANALYSIS_FPS,
                "no motion gate",
            ),
        ]
    return figures, stages


def stage_rates(stats: StageStats) -> dict[str, float]:
    """Frames/s each stage would sustain alone."""
    return {k: stats.frames / v for k, v in stats.seconds.items() if v > 0}
