"""`vigil bench pipeline`: analysis speed per stage and accuracy, NanoDet beside HOG.

Frames are decoded first (decode is measured on its own), then the same frames go through the
motion-gated analyzer with each detector. Speed is analysed frames per CPU-second of the
process (one thread: per-core figures); the camera figure is how many cameras at 5 analysis
fps the machine's cores sustain, one analysis process per core. Accuracy is `vigil eval video`
on vtest.avi against its hand labels (`docs/eval-truth/vtest.json`) when the checkout has them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vigil.bench.report import Figure
from vigil.camera.motion import MotionDetector
from vigil.camera.source import analysis_frames
from vigil.faces.calibration import Calibration
from vigil.faces.engine import FaceEngine
from vigil.faces.matcher import Matcher, NumpyIndex
from vigil.pipeline.analyzer import CameraAnalyzer, StageStats
from vigil.pipeline.evaluation import VideoReport, read_truth
from vigil.pipeline.offline import evaluate_video
from vigil.vision.person import HogPersonDetector, ObjectDetector, make_detector

ANALYSIS_FPS = 5.0
TARGET_FPS_PER_CPU_S = 20.0  # 8 cameras at 5 fps on 2 cores
VTEST_TRUTH = Path(__file__).resolve().parents[3] / "docs" / "eval-truth" / "vtest.json"
DETECTORS: dict[str, Callable[[], ObjectDetector]] = {
    "NanoDet": lambda: make_detector("nanodet"),
    "HOG": HogPersonDetector,
}


@dataclass
class Run:
    fps_per_cpu_s: float
    stats: StageStats


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


def _analyzer(engine: FaceEngine, detector: ObjectDetector) -> CameraAnalyzer:
    matcher = Matcher(NumpyIndex(128), {}, {}, Calibration.default(engine.model_name))
    return CameraAnalyzer("bench", engine, matcher, detector, MotionDetector())


def analyse(
    frames: list[tuple[float, np.ndarray]], engine: FaceEngine, detector: ObjectDetector
) -> Run:
    analyzer = _analyzer(engine, detector)
    start = time.process_time()
    for t, image in frames:
        analyzer.process(image, t)
    analyzer.finish()
    return Run(len(frames) / (time.process_time() - start), analyzer.stats)


def accuracy(video: Path, engine: FaceEngine, detector: ObjectDetector) -> VideoReport:
    report, _ = evaluate_video(video, read_truth(VTEST_TRUTH), _analyzer(engine, detector))
    return report


def run(
    videos: dict[str, Path], seconds: float = 40.0, vtest: Path | None = None
) -> tuple[list[Figure], dict[str, StageStats]]:
    cv2.setNumThreads(1)  # per-core figures: one analysis process per core
    engine = FaceEngine()
    detectors = {name: make() for name, make in DETECTORS.items()}
    new, old = detectors["NanoDet"], detectors["HOG"]
    figures, stages = [], {}
    cores = os.cpu_count() or 1
    for label, video in videos.items():
        frames, decode_fps = decode(video, seconds)
        fast, slow = analyse(frames, engine, new), analyse(frames, engine, old)
        stages[f"{label}, NanoDet"], stages[f"{label}, HOG"] = fast.stats, slow.stats
        idle = fast.stats.gated / max(1, fast.stats.frames)

        def cameras(r: Run, decode_fps: float = decode_fps) -> float:
            return cores / (1 / r.fps_per_cpu_s + 1 / decode_fps) / ANALYSIS_FPS

        figures += [
            Figure(f"{label}: decode at {ANALYSIS_FPS:g} fps", decode_fps, "frames/s"),
            Figure(
                f"{label}: NanoDet, analysed frames per CPU-s ({idle:.0%} of frames idle)",
                fast.fps_per_cpu_s,
                "frames/s",
                TARGET_FPS_PER_CPU_S,
                True,
                slow.fps_per_cpu_s,
                "HOG",
            ),
            Figure(
                f"{label}: cameras at {ANALYSIS_FPS:g} fps on {cores} cores",
                cameras(fast),
                "cameras",
                8,
                True,
                cameras(slow),
                "HOG",
            ),
        ]
    if vtest is not None and VTEST_TRUTH.is_file():
        reports = {name: accuracy(vtest, engine, d) for name, d in detectors.items()}
        (p_new, r_new), (p_old, r_old) = reports["NanoDet"].tall(), reports["HOG"].tall()
        walks = reports["NanoDet"].walks or 0
        figures += [
            Figure(
                "vtest: person precision, >= 60 px, IoU 0.5", p_new, "", 0.9, True, p_old, "HOG"
            ),
            Figure("vtest: person recall, >= 60 px, IoU 0.5", r_new, "", 0.9, True, r_old, "HOG"),
            Figure(
                f"vtest: person events off the {walks} walk-throughs by",
                abs((reports["NanoDet"].events_per_walk or 0.0) - 1),
                "",
                0.2,
                False,
                abs((reports["HOG"].events_per_walk or 0.0) - 1),
                "HOG",
            ),
        ]
    return figures, stages


def stage_rates(stats: StageStats) -> dict[str, float]:
    """Frames/s each stage would sustain alone."""
    return {k: stats.frames / v for k, v in stats.seconds.items() if v > 0}
