"""`vigil bench faces`: detection, embedding, identification speed, and verification accuracy.

Each figure is printed beside a baseline measured in the same process: detection on the full
frame vs. on the downscaled copy Vigil uses; one face per call on one thread vs. batches on
every core; numpy exact search vs. faiss.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np

from vigil.bench.report import Figure
from vigil.faces.engine import FaceEngine
from vigil.faces.evaluation import Pair, evaluate_pairs, make_pairs, read_pairs
from vigil.faces.matcher import FaissIndex, NumpyIndex, VectorIndex
from vigil.vision.detector import YuNetDetector
from vigil.vision.embedder import OnnxRuntimeEmbedder, normalise
from vigil.vision.image import load_image
from vigil.vision.models import SFACE_COSINE_THRESHOLD


def rate(fn: Callable[[], object], min_seconds: float = 2.0, warmup: int = 2) -> float:
    """Calls per second of `fn`, over at least `min_seconds`."""
    for _ in range(warmup):
        fn()
    n, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < min_seconds:
        fn()
        n += 1
    return n / elapsed


def hd_frame(photo: np.ndarray) -> np.ndarray:
    """A 1280x720 frame with the photo's faces in it (letterboxed like a camera frame)."""
    frame = np.full((720, 1280, 3), 40, np.uint8)
    s = min(1280 / photo.shape[1], 720 / photo.shape[0])
    small = cv2.resize(photo, (int(photo.shape[1] * s), int(photo.shape[0] * s)))
    y, x = (720 - small.shape[0]) // 2, (1280 - small.shape[1]) // 2
    frame[y : y + small.shape[0], x : x + small.shape[1]] = small
    return frame


def detection(photo: np.ndarray, seconds: float) -> Figure:
    # The figure is for one core. Restored after: setNumThreads(0) would leave OpenCV
    # sequential (0 means no threads, not the default) for what the process does next.
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        frame = hd_frame(photo)
        full = YuNetDetector(max_side=1280)
        fast = YuNetDetector(max_side=640)
        assert len(fast.detect(frame)) == len(full.detect(frame)) > 0
        base = rate(lambda: full.detect(frame), seconds)
        ours = rate(lambda: fast.detect(frame), seconds)
    finally:
        cv2.setNumThreads(threads)
    return Figure(
        "face detection, 1280x720, one core", ours, "frames/s", 25, True, base, "full-size input"
    )


def embedding(crops: list[np.ndarray], seconds: float, threads: int) -> Figure:
    single = OnnxRuntimeEmbedder(threads=1)
    batched = OnnxRuntimeEmbedder(threads=threads)
    base = rate(lambda: [single.embed([c]) for c in crops], seconds) * len(crops)
    ours = rate(lambda: batched.embed(crops), seconds) * len(crops)
    return Figure(
        f"face embedding, {threads} threads",
        ours,
        "faces/s",
        60,
        True,
        base,
        "1 face/call, 1 thread",
    )


def clustered_gallery(n: int, dim: int = 128, per_person: int = 4, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = normalise(rng.normal(size=(n // per_person, dim)))
    owners = np.repeat(np.arange(len(centres)), per_person)
    return centres, normalise(centres[owners] + 0.08 * rng.normal(size=(len(owners), dim)))


def identification(n: int, seconds: float) -> list[Figure]:
    centres, vectors = clustered_gallery(n)
    ids = np.arange(len(vectors))
    queries = normalise(centres[:256] + 0.08 * np.random.default_rng(1).normal(size=(256, 128)))
    latency: dict[str, float] = {}
    indexes: dict[str, VectorIndex] = {
        "numpy exact": NumpyIndex(128),
        "faiss flat": FaissIndex(128),
    }
    for name, index in indexes.items():
        index.add(ids, vectors)
        i = iter(range(10**9))

        def search(idx: VectorIndex = index, it: Iterator[int] = i) -> object:
            return idx.search(queries[next(it) % 256], 50)

        per_s = rate(search, seconds)
        latency[name] = 1000 / per_s
    return [
        Figure(
            f"identify 1 face in {n:,} templates ({name})",
            ms,
            "ms",
            10,
            False,
            latency["numpy exact"],
            "numpy exact",
        )
        for name, ms in latency.items()
    ]


def accuracy(engine: FaceEngine, pairs: list[Pair], label: str, threshold: float) -> Figure:
    report = evaluate_pairs(engine, pairs, threshold)
    return Figure(
        f"verification accuracy, {label} ({report.pairs} pairs)",
        report.accuracy * 100,
        "%",
        97,
        True,
    )


def run(
    faces_dir: Path,
    pairs_file: Path | None = None,
    seconds: float = 2.0,
    gallery_size: int = 100_000,
    threads: int = 2,
) -> list[Figure]:
    engine = FaceEngine()
    photo = load_image(faces_dir / "two_people.jpg")
    crops = [o.crop for o in engine.analyze(photo, embed=False) if o.crop is not None]
    figures = [
        detection(photo, seconds),
        embedding((crops * 16)[:32], seconds, threads),
        *identification(gallery_size, seconds),
    ]
    if pairs_file:
        pairs, label = read_pairs(pairs_file), pairs_file.name
    else:
        pairs, label = make_pairs(faces_dir / "people", 5.0), "test photos"
    figures.append(accuracy(engine, pairs, label, SFACE_COSINE_THRESHOLD))
    return figures
