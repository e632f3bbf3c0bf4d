"""Real small filesystems (tmpfs) and real H.264 files for the storage tests."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest


def make_clip(
    path: Path, seconds: int, *, size: tuple[int, int] = (160, 120), fps: int = 10
) -> Path:
    """A real H.264 fragmented MP4 of noise (so it has some size), a keyframe every second."""
    rng = np.random.default_rng(seconds)
    w, h = size
    with av.open(
        str(path), "w", format="mp4", options={"movflags": "frag_keyframe+empty_moov"}
    ) as out:
        st = out.add_stream("libx264", rate=fps)
        st.width, st.height, st.pix_fmt = w, h, "yuv420p"
        st.options = {"preset": "ultrafast", "g": str(fps)}
        for i in range(seconds * fps):
            img = rng.integers(0, 255, (h, w, 3), np.uint8)
            frame = av.VideoFrame.from_ndarray(img, format="bgr24").reformat(format="yuv420p")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            for pkt in st.encode(frame):
                out.mux(pkt)
        for pkt in st.encode(None):
            out.mux(pkt)
    return path


@pytest.fixture(scope="session")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1 s of H.264: one 'segment' (~100-200 kB)."""
    return make_clip(tmp_path_factory.mktemp("clip") / "seg.mp4", 1)


@pytest.fixture(scope="session")
def loop_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 s of H.264 to record from in a loop (2 s segments)."""
    return make_clip(tmp_path_factory.mktemp("loop") / "loop4s.mp4", 4)


def _mount_tmpfs(where: Path, size: str) -> str | None:
    """Mount a tmpfs of `size` on `where`; None when done, else why it cannot be."""
    if shutil.which("mount") is None:
        return "no mount command"
    probe = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if probe.returncode:
        return f"cannot mount a tmpfs here (needs root / CAP_SYS_ADMIN): {probe.stderr.strip()}"
    return None


def _umount(where: Path) -> None:
    # a test's database may still hold a file open for a moment: then detach it lazily
    for _ in range(3):
        if subprocess.run(["umount", str(where)], capture_output=True).returncode == 0:
            return
        time.sleep(0.2)
    subprocess.run(["umount", "-l", str(where)], check=False)


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """`small_fs("8m")`: a fresh tmpfs of that size, unmounted after the test."""
    mounted: list[Path] = []

    def make(size: str) -> Path:
        where = tmp_path / f"fs{len(mounted)}"
        where.mkdir()
        why = _mount_tmpfs(where, size)
        if why:
            pytest.skip(why)
        mounted.append(where)
        return where

    try:
        yield make
    finally:
        for where in reversed(mounted):
            _umount(where)


def fill(path: Path, nbytes: int) -> Path:
    """A file that is not Vigil's, of `nbytes` real (written) bytes."""
    chunk = b"\xa5" * (1 << 20)
    with open(path, "wb") as f:
        left = nbytes
        while left > 0:
            f.write(chunk[: min(left, len(chunk))])
            left -= len(chunk)
    return path
