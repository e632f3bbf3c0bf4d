"""`vigil bench motion`: how many cameras' sub-streams one core analyses for motion.

The sub-stream is a 640x360 H.264 clip (people walking, from vtest.avi; keyframe every 2 s,
like a camera's sub-stream) encoded once and cached. Everything runs pinned to one CPU core
with OpenCV on one thread:

- capacity: CPU seconds to analyse the clip, unpaced, Vigil's way (decode every frame as
  H.264 requires, but scale to 320 px grey only the frames picked at 5 fps, then detect)
  versus the baseline (decode every frame to full-size BGR and run the same detector on
  every frame at full size); cameras per core = video seconds / CPU seconds;
- live: N cameras at once, each paced to real time in its own thread (like N live
  sub-streams), with motion events stored in SQLite; the analysed frame rate every camera
  achieved and the process's CPU over a steady window.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import psutil

from vigil.bench.record import cache_dir
from vigil.bench.report import Figure
from vigil.camera.health import PictureHealth
from vigil.camera.motion import MotionDetector, MotionEvents, analyse_stream
from vigil.camera.source import analysis_frames
from vigil.config import HealthConfig, MotionConfig
from vigil.store.db import Database

WIDTH, HEIGHT = 640, 360
ANALYSIS_FPS = 5.0


def make_substream(source: Path, fps: int = 10, folder: Path | None = None) -> Path:
    """`source` as a 640x360 H.264 sub-stream at `fps` (keyframe every 2 s), cached."""
    folder = folder or cache_dir()
    path = folder / f"substream-{source.stem}-{WIDTH}x{HEIGHT}-{fps}fps.mp4"
    if path.is_file() and path.stat().st_size > 0:
        return path
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part.mp4")
    with av.open(str(source)) as inp, av.open(str(tmp), "w") as out:
        st = out.add_stream("libx264", rate=fps)
        st.width, st.height, st.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        st.options = {"preset": "veryfast", "g": str(2 * fps), "bf": "0", "b": "600k"}
        vs = inp.streams.video[0]
        src_rate = float(vs.average_rate or fps)
        n = 0
        for i, frame in enumerate(inp.decode(vs)):
            while n <= i * fps / src_rate:  # repeat or drop frames to reach `fps`
                f = frame.reformat(width=WIDTH, height=HEIGHT, format="yuv420p")
                f.pts, f.time_base = n, Fraction(1, fps)
                for pkt in st.encode(f):
                    out.mux(pkt)
                n += 1
        for pkt in st.encode(None):
            out.mux(pkt)
    tmp.replace(path)
    return path


@contextmanager
def one_core() -> Iterator[int]:
    """Pin this process (all its threads) and OpenCV to one CPU core for the block."""
    before = os.sched_getaffinity(0)
    core = min(before)
    threads = cv2.getNumThreads()
    os.sched_setaffinity(0, {core})
    cv2.setNumThreads(1)
    try:
        yield core
    finally:
        os.sched_setaffinity(0, before)
        cv2.setNumThreads(threads)


def _cpu() -> float:
    t = psutil.Process().cpu_times()
    return t.user + t.system


@dataclass
class Capacity:
    name: str
    video_s: float
    cpu_s: float
    frames_decoded: int
    frames_analysed: int
    detect_s: float

    @property
    def cameras_per_core(self) -> float:
        return self.video_s / self.cpu_s if self.cpu_s else 0.0

    @property
    def detect_ms(self) -> float:
        return 1000 * self.detect_s / self.frames_analysed if self.frames_analysed else 0.0


def capacity_vigil(clip: Path) -> Capacity:
    det = MotionDetector(width=320)
    c0 = _cpu()
    n = 0
    detect = 0.0
    last = 0.0
    for f in analysis_frames(
        str(clip), fps=ANALYSIS_FPS, max_width=320, gray=True, reconnect=False, pace=False
    ):
        t = time.perf_counter()
        det.detect(f.image)
        detect += time.perf_counter() - t
        n += 1
        last = f.pts_seconds
    cpu = _cpu() - c0
    with av.open(str(clip)) as c:
        decoded = c.streams.video[0].frames
    return Capacity("vigil: pick 5 fps, 320 px grey", last, cpu, decoded, n, detect)


def health_ms(clip: Path, frames: int = 150) -> float:
    """Milliseconds the camera health checks (`camera.health`) take per analysed frame: the
    BGR frames live analysis hands them (5 fps, 960 px at most), decoding not counted."""
    picked = []
    for f in analysis_frames(
        str(clip), fps=ANALYSIS_FPS, max_width=960, reconnect=False, pace=False
    ):
        picked.append((f.pts_seconds, f.image))
        if len(picked) >= frames:
            break
    health = PictureHealth("bench", HealthConfig())
    t = time.perf_counter()
    for when, image in picked:
        health.observe(when, image)
    return 1000 * (time.perf_counter() - t) / max(1, len(picked))


def capacity_baseline(clip: Path) -> Capacity:
    det = MotionDetector(width=WIDTH)
    c0 = _cpu()
    n = 0
    detect = 0.0
    last = 0.0
    with av.open(str(clip)) as c:
        vs = c.streams.video[0]
        vs.codec_context.thread_count = 1
        for frame in c.decode(vs):
            img = frame.to_ndarray(format="bgr24")
            t = time.perf_counter()
            det.detect(img)
            detect += time.perf_counter() - t
            n += 1
            pts, tb = frame.pts, frame.time_base
            last = float(pts * tb) if pts is not None and tb is not None else last
    cpu = _cpu() - c0
    return Capacity("baseline: every frame, full size", last, cpu, n, n, detect)


@dataclass
class Live:
    cameras: int
    window_s: float
    cpu_s: float
    fps: list[float]  # analysed frames/s of each camera in the window
    events: int
    errors: list[str]

    @property
    def cpu_pct(self) -> float:
        return 100 * self.cpu_s / self.window_s if self.window_s else 0.0


def live(clip: Path, cameras: int, seconds: float, warmup_s: float = 4.0) -> Live:
    """`cameras` threads, each analysing the clip paced to real time (looped)."""
    stop = threading.Event()
    counts = [0] * cameras
    errors: list[str] = []
    cfg = MotionConfig(fps=ANALYSIS_FPS)
    with tempfile.TemporaryDirectory(prefix="vigil-bench-motion-") as tmp:
        db = Database(f"sqlite:///{Path(tmp) / 'vigil.db'}")
        events = [MotionEvents(f"c{i:02d}", db) for i in range(cameras)]

        def worker(i: int) -> None:
            try:
                for _ in analyse_stream(
                    f"c{i:02d}", str(clip), cfg, db=db, stop=stop, events=events[i],
                    loop=True, reconnect=False,
                ):  # fmt: skip
                    counts[i] += 1
            except Exception as exc:
                errors.append(f"c{i:02d}: {exc}")

        threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(cameras)]
        for t in threads:
            t.start()
            time.sleep(min(0.05, 2.0 / cameras))  # cameras do not all start on one frame
        time.sleep(warmup_s)
        c0, t0 = _cpu(), time.monotonic()
        start_counts = counts[:]
        time.sleep(seconds)
        window = time.monotonic() - t0
        cpu = _cpu() - c0
        fps = [(counts[i] - start_counts[i]) / window for i in range(cameras)]
        stop.set()
        for t in threads:
            t.join(10)
        stored = sum(len(e.finished) + (e.current is not None) for e in events)
        db.close()
    return Live(cameras, window, cpu, fps, stored, errors)


def run(
    source: Path,
    cameras: int = 32,
    seconds: float = 15.0,
    stream_fps: int = 10,
    log: Callable[[str], None] = lambda _m: None,
) -> tuple[list[Figure], Capacity, Capacity, Live]:
    clip = make_substream(source, stream_fps)
    with one_core() as core:
        log(f"pinned to CPU core {core}; capacity runs (unpaced, {clip.name})")
        ours = capacity_vigil(clip)
        base = capacity_baseline(clip)
        health = health_ms(clip)
        log(f"live: {cameras} cameras paced to real time, {seconds:g} s window")
        run_live = live(clip, cameras, seconds)
    base_name = "decode all, full size"
    min_fps = min(run_live.fps) if run_live.fps else 0.0
    figures = [
        Figure(
            "cameras per core (capacity)", ours.cameras_per_core, "cameras", cameras, True,
            base.cameras_per_core, base_name,
        ),
        Figure(
            f"live: {cameras} cameras on one core, CPU", run_live.cpu_pct, "% core", 100, False,
        ),
        Figure(
            "live: slowest camera's analysed rate", min_fps, "fps", ANALYSIS_FPS * 0.95, True,
        ),
        Figure(
            "CPU per camera", ours.cpu_s / ours.video_s * 100, "% core", None, False,
            base.cpu_s / base.video_s * 100, base_name,
        ),
        Figure(
            "motion detection per analysed frame", ours.detect_ms, "ms", None, False,
            base.detect_ms, base_name,
        ),
        Figure(
            "camera health checks per analysed frame", health, "ms", None, False,
            ours.detect_ms, "the motion gate (above)",
        ),
    ]  # fmt: skip
    return figures, ours, base, run_live
