"""Sources other than RTSP (looped files, HTTP MJPEG, HLS), timestamp jumps, analysis frames."""

from __future__ import annotations

import functools
import http.server
import itertools
import threading
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import ClassVar

import av
import pytest

from tests.camera.conftest import MjpegCamera, decode_all, mjpeg_part, serve_http, wait_for
from vigil.camera.index import camera_segments, coverage, probe_segment, recordings_dir
from vigil.camera.recorder import RecorderOptions, RecordingService
from vigil.camera.source import SourceKind, analysis_frames, probe, redact_url, source_kind
from vigil.camera.status import State
from vigil.config import CameraConfig
from vigil.store.db import Database

FAST = RecorderOptions(
    io_timeout_s=1.0, backoff_initial_s=0.5, backoff_max_s=1.0, index_interval_s=0.5
)


def _encode(src: Path, out: av.container.OutputContainer, first: int, n: int, pts0: int = 0):
    """Encode frames [first, first+n) of src as H.264 (10 fps, keyframe each second)."""
    ost = out.add_stream("libx264", rate=10)
    ost.width, ost.height, ost.pix_fmt = 768, 576, "yuv420p"
    ost.options = {"g": "10", "preset": "ultrafast", "bf": "0"}
    with av.open(str(src)) as inp:
        for i, frame in enumerate(inp.decode(video=0)):
            if i < first:
                continue
            if i >= first + n:
                break
            f = frame.reformat(format="yuv420p")
            f.pts, f.time_base = i - first + pts0, Fraction(1, 10)
            for p in ost.encode(f):
                out.mux(p)
    for p in ost.encode(None):
        out.mux(p)


def test_source_kinds_and_redaction() -> None:
    assert source_kind("rtsp://u:p@cam/x") is SourceKind.RTSP
    assert source_kind("https://cam/video.mjpg") is SourceKind.HTTP
    assert source_kind("http://cam/live/index.m3u8") is SourceKind.HLS
    assert source_kind("/dev/video0") is SourceKind.V4L2
    assert source_kind("demo.mp4") is SourceKind.FILE
    assert redact_url("rtsp://admin:pa55@10.0.0.5:554/s") == "rtsp://admin:***@10.0.0.5:554/s"
    assert redact_url("rtsp://10.0.0.5/s") == "rtsp://10.0.0.5/s"


@pytest.mark.timeout(60)
def test_looped_file_records_continuously(h264_file: Path, data_dir: Path) -> None:
    db = Database(f"sqlite:///{data_dir / 'vigil.db'}")
    cam = CameraConfig(name="demo", url=str(h264_file), loop=True, segment_seconds=3)
    svc = RecordingService([cam], data_dir, db, FAST)
    t = time.monotonic()
    svc.start()
    try:  # the 4 s file plays twice: past the loop point with increasing timestamps
        assert wait_for(lambda: svc.statuses()[0].segments_written >= 2, 20)
        assert svc.statuses()[0].state == State.ONLINE
    finally:
        svc.stop()
    elapsed = time.monotonic() - t
    segs = camera_segments(db, "demo")
    cov = coverage(segs, tolerance_s=0.15)
    assert len(cov.spans) == 1
    recorded = (cov.spans[0][1] - cov.spans[0][0]).total_seconds()
    assert 6.0 <= recorded <= elapsed + 0.5  # paced to real time, not faster
    for s in segs:
        assert decode_all(recordings_dir(data_dir) / s.path) > 0


@pytest.mark.timeout(60)
def test_timestamp_jumps_start_new_segments_without_overlap(
    vtest: Path, data_dir: Path, tmp_path: Path
) -> None:
    # three MPEG-TS pieces back to back: 3 s, then pts restart at 0 (a camera restart),
    # then pts jump 60 s ahead (a camera clock step)
    parts = []
    for i, (first, pts0) in enumerate([(0, 0), (30, 0), (60, 600)]):
        p = tmp_path / f"p{i}.ts"
        with av.open(str(p), "w", format="mpegts") as out:
            _encode(vtest, out, first, 30, pts0)
        parts.append(p.read_bytes())
    jumpy = tmp_path / "jumpy.ts"
    jumpy.write_bytes(b"".join(parts))
    db = Database(f"sqlite:///{data_dir / 'vigil.db'}")
    cam = CameraConfig(name="jumpy", url=str(jumpy), segment_seconds=60)
    svc = RecordingService([cam], data_dir, db, FAST)
    svc.start()
    try:
        assert wait_for(lambda: svc.statuses()[0].state == State.STOPPED, 25)
        assert "end of file" in svc.statuses()[0].error
    finally:
        svc.stop()
    segs = camera_segments(db, "jumpy")
    assert len(segs) == 3, [(s.start, s.end) for s in segs]
    for a, b in itertools.pairwise(segs):
        assert b.start >= a.end  # no overlap, no stretched video
    for s in segs:
        assert 2.5 <= (s.end - s.start).total_seconds() <= 3.2
        assert probe_segment(recordings_dir(data_dir) / s.path).packets >= 28
    total = (segs[-1].end - segs[0].start).total_seconds()
    assert total < 12  # the 60 s pts jump did not become 60 s of wall-clock time


class _MjpegHandler(MjpegCamera):
    frames: ClassVar[list[bytes]] = []

    def parts(self) -> Iterator[bytes]:
        for jpg in itertools.cycle(self.frames):
            yield mjpeg_part(jpg)
            time.sleep(0.1)


@pytest.fixture
def mjpeg_server(vtest: Path) -> Iterator[str]:
    enc = av.CodecContext.create("mjpeg", "w")
    enc.width, enc.height, enc.pix_fmt = 320, 240, "yuvj420p"
    enc.time_base = Fraction(1, 10)
    frames = []
    with av.open(str(vtest)) as inp:
        for i, fr in enumerate(inp.decode(video=0)):
            if i >= 20:
                break
            frames += [bytes(p) for p in enc.encode(fr.reformat(320, 240, "yuvj420p"))]
    handler = type("H", (_MjpegHandler,), {"frames": frames})
    for port in serve_http(handler):
        yield f"http://127.0.0.1:{port}/video.mjpg"


@pytest.mark.timeout(60)
def test_http_mjpeg_camera_is_recorded(mjpeg_server: str, data_dir: Path) -> None:
    info = probe(mjpeg_server, seconds=1)
    assert info.codec == "mjpeg" and (info.width, info.height) == (320, 240)
    db = Database(f"sqlite:///{data_dir / 'vigil.db'}")
    cam = CameraConfig(name="mjpeg", url=mjpeg_server, segment_seconds=2)
    svc = RecordingService([cam], data_dir, db, FAST)
    svc.start()
    try:
        assert wait_for(lambda: svc.statuses()[0].segments_written >= 1, 15), svc.statuses()
        st = svc.statuses()[0]
        assert st.state == State.ONLINE and st.codec == "mjpeg"
    finally:
        svc.stop()
    segs = camera_segments(db, "mjpeg")
    for s in segs:
        n = decode_all(recordings_dir(data_dir) / s.path)
        assert n > 0
    full = segs[0]
    assert 1.8 <= (full.end - full.start).total_seconds() <= 2.4  # wall-clock stamped


@pytest.fixture
def hls_server(vtest: Path, tmp_path: Path) -> Iterator[str]:
    folder = tmp_path / "hls"
    folder.mkdir()
    opts = {"hls_time": "1", "hls_list_size": "0", "hls_playlist_type": "vod"}
    with av.open(str(folder / "index.m3u8"), "w", format="hls", options=opts) as out:
        _encode(vtest, out, 0, 40)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *a: None  # type: ignore[attr-defined]
    for port in serve_http(handler):  # type: ignore[arg-type]
        yield f"http://127.0.0.1:{port}/index.m3u8"


@pytest.mark.timeout(60)
def test_hls_source_is_recorded_in_real_time(hls_server: str, data_dir: Path) -> None:
    db = Database(f"sqlite:///{data_dir / 'vigil.db'}")
    cam = CameraConfig(name="hls", url=hls_server, segment_seconds=2)
    svc = RecordingService([cam], data_dir, db, FAST)
    t = time.monotonic()
    svc.start()
    try:
        assert wait_for(lambda: svc.statuses()[0].segments_written >= 1, 15), svc.statuses()
        assert svc.statuses()[0].codec == "h264"
    finally:
        svc.stop()
    segs = camera_segments(db, "hls")
    assert segs[0].keyframes[0] == 0.0
    recorded = (segs[-1].end - segs[0].start).total_seconds()
    assert recorded <= time.monotonic() - t + 0.5  # paced: no faster than real time
    for s in segs:
        assert decode_all(recordings_dir(data_dir) / s.path) > 0


@pytest.mark.timeout(60)
def test_analysis_frames_small_and_slow(h264_file: Path) -> None:
    stop = threading.Event()
    got = []
    for frame in analysis_frames(
        str(h264_file), fps=2, max_width=320, gray=True, stop=stop, loop=True
    ):
        got.append(frame)
        if len(got) >= 5:
            stop.set()
            break
    assert all(f.image.shape == (240, 320) for f in got)
    steps = [b.pts_seconds - a.pts_seconds for a, b in itertools.pairwise(got)]
    assert all(0.45 <= s <= 0.65 for s in steps), steps
    walls = [b.wall_time - a.wall_time for a, b in itertools.pairwise(got)]
    assert sum(walls) >= 1.5  # paced to real time
    colour = next(analysis_frames(str(h264_file), fps=1, max_width=640, pace=False))
    assert colour.image.shape == (480, 640, 3)


@pytest.mark.timeout(60)
def test_watchdog_notices_a_stream_without_video(vtest: Path, data_dir: Path, tmp_path: Path):
    """Video stops after 1 s while audio keeps flowing: the camera is declared offline."""
    import numpy as np

    path = tmp_path / "audio_only_after_1s.ts"
    with av.open(str(path), "w", format="mpegts") as out:  # both streams before any packet
        vst = out.add_stream("libx264", rate=10)
        vst.width, vst.height, vst.pix_fmt = 320, 240, "yuv420p"
        vst.options = {"g": "10", "preset": "ultrafast", "bf": "0"}
        ast = out.add_stream("aac", rate=48000)
        ast.layout = "mono"
        for i in range(10):  # 1 s of video
            vf = av.VideoFrame.from_ndarray(np.full((240, 320, 3), i * 20, np.uint8), "rgb24")
            vf = vf.reformat(format="yuv420p")
            vf.pts, vf.time_base = i, Fraction(1, 10)
            for p in vst.encode(vf):
                out.mux(p)
        for p in vst.encode(None):
            out.mux(p)
        for i in range(48000 * 8 // 1024):  # 8 s of audio
            fr = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), "fltp", "mono")
            fr.sample_rate, fr.pts = 48000, i * 1024
            for p in ast.encode(fr):
                out.mux(p)
        for p in ast.encode(None):
            out.mux(p)
    opts = RecorderOptions(io_timeout_s=1.0, watchdog_s=2.0, backoff_initial_s=30)
    db = Database(f"sqlite:///{data_dir / 'vigil.db'}")
    svc = RecordingService([CameraConfig(name="mute", url=str(path))], data_dir, db, opts)
    svc.start()
    try:
        assert wait_for(lambda: "no video for 2 s" in svc.statuses()[0].error, 15), svc.statuses()
        assert svc.statuses()[0].state == State.OFFLINE
    finally:
        svc.stop()
    assert len(camera_segments(db, "mute")) == 1  # the second of video before it stopped


@pytest.mark.timeout(60)
def test_file_not_looped_ends_analysis_at_its_end(h264_file: Path) -> None:
    # Reconnecting (what live analysis asks for) must not replay a file that is not looped.
    times = []
    for frame in analysis_frames(str(h264_file), fps=5, max_width=320, pace=False):
        assert not times or frame.pts_seconds > times[-1], "the file was analysed again"
        times.append(frame.pts_seconds)
    assert 3.5 <= times[-1] <= 4.0 and len(times) == 20
