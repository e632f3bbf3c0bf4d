"""Recording integrity: the first RTSP keyframe is kept, dts jitter stays in its segment, and
frames a burn-in recording cannot keep up with are counted in the camera's status."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import av
import pytest

from tests.camera.conftest import RtspServer, _start_server, decode_all, wait_for
from vigil.api.live import LiveFrames
from vigil.api.routes.cameras import camera_out
from vigil.bench.timecode import read_time
from vigil.camera.burn import MaskBurner
from vigil.camera.index import camera_segments, probe_segment, recordings_dir
from vigil.camera.recorder import CameraRecorder, RecorderOptions, RecordingService
from vigil.camera.segment import SegmentInfo
from vigil.camera.source import PacketSource
from vigil.camera.status import CameraStatus, State, read_status
from vigil.config import CameraConfig, VigilConfig
from vigil.store.db import Database

FAST = RecorderOptions(
    io_timeout_s=1.0,
    backoff_initial_s=0.5,
    backoff_max_s=1.0,
    index_interval_s=0.5,
    status_interval_s=0.5,
)
MASK = [(0.1, 0.1), (0.5, 0.1), (0.5, 0.6), (0.1, 0.6)]


@pytest.fixture
def timecode_camera(rtsp_available: None) -> Iterator[RtspServer]:
    """An RTSP camera whose frames show the wall-clock time they were made (10 fps, a keyframe
    every 2 s); it makes its first frame (a keyframe) when a client connects."""
    srv = _start_server(
        ["--port", "0", "--fps", "10", "--keyint", "2", "--width", "480", "--height", "272"]
    )
    yield srv
    srv.kill()


@pytest.mark.timeout(60)
def test_recording_starts_at_the_sources_first_keyframe(
    timecode_camera: RtspServer, data_dir: Path
) -> None:
    db = Database(f"sqlite:///{data_dir / 'vigil.db'}")
    cam = CameraConfig(name="door", url=timecode_camera.url, segment_seconds=30)
    svc = RecordingService([cam], data_dir, db, FAST)
    t_start = time.time()
    svc.start()
    try:
        assert wait_for(lambda: svc.statuses()[0].last_packet_at is not None, 10)
        time.sleep(2.5)  # past the camera's second keyframe
        connected_at = svc.statuses()[0].connected_at
    finally:
        svc.stop()
    assert connected_at is not None
    seg = camera_segments(db, "door")[0]
    path = recordings_dir(data_dir) / seg.path
    with av.open(str(path)) as c:
        first = next(c.decode(c.streams.video[0]))
        made_at = read_time(first.to_ndarray(format="bgr24"), time.time())
    assert made_at is not None, "the first recorded frame carries a readable time code"
    # The camera made its first keyframe while the recorder connected; the next one comes 2 s
    # later, so a recorder that skipped the first would start about 2 s after connecting.
    assert t_start - 0.1 <= made_at <= connected_at + 0.3
    assert seg.keyframes[0] == 0.0
    # and the segment's wall clock is that frame's time (within a frame and the latency)
    assert abs(seg.start.timestamp() - made_at) < 0.4


def _file_packets(path: Path) -> tuple[PacketSource, list[av.Packet]]:
    src = PacketSource(str(path), pace=False)
    src.open()
    return src, list(src.packets())


def _record_packets(
    packets: list[av.Packet], src: PacketSource, data_dir: Path
) -> list[SegmentInfo]:
    """The recorder's own packet path (anchoring, discontinuity checks, segment writer)."""
    done: list[SegmentInfo] = []
    cam = CameraConfig(name="yard", url="unused.mp4", segment_seconds=60)
    opts = RecorderOptions(max_drift_s=60.0, fsync_on_close=False, fsync_interval_s=None)
    rec = CameraRecorder(cam, data_dir, None, opts, on_segment=done.append)
    rec._write_packets(iter(packets), lambda: src.stream)
    rec._finish_segment()
    return done


def test_dts_jitter_stays_in_the_segment_and_a_real_step_back_splits(
    h264_file: Path, data_dir: Path
) -> None:
    src, packets = _file_packets(h264_file)
    try:
        n = len(packets)
        assert n == 40
        # Timestamp jitter (as seen over RTSP/UDP): one frame stamped a frame before the last.
        packets[15].pts, packets[15].dts = packets[13].pts, packets[13].dts
        segs = _record_packets(packets, src, data_dir / "jitter")
        assert len(segs) == 1, "one frame of jitter must not start a new segment"
        assert probe_segment(segs[0].path).packets == n, "every frame is kept"
        assert decode_all(segs[0].path) == n

        # A camera that restarts its clock 2 s back: a real discontinuity, a new segment.
        src2, packets = _file_packets(h264_file)
        back = round(2.0 / packets[0].time_base)
        for pkt in packets[20:]:
            pkt.pts -= back
            pkt.dts -= back
        segs = _record_packets(packets, src2, data_dir / "restart")
        src2.close()
        assert len(segs) == 2
        assert sum(probe_segment(s.path).packets for s in segs) == n
    finally:
        src.close()


@pytest.mark.timeout(60)
def test_burn_in_that_falls_behind_reports_dropped_frames(
    rtsp_server, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    srv = rtsp_server()
    db = Database(f"sqlite:///{data_dir / 'vigil.db'}")
    cam = CameraConfig(
        name="till",
        url=srv.url,
        segment_seconds=2,
        privacy_masks=[MASK],
        privacy_masks_burn_in=True,
    )
    # An overloaded box, made certain: masking a frame takes 0.2 s (x264's slowest preset
    # alone kept up with this 10 fps camera on an idle machine), so the 0.5 s backlog fills.
    masked = MaskBurner._masked

    def overloaded(self: MaskBurner, frame: av.VideoFrame) -> av.VideoFrame:
        time.sleep(0.2)
        return masked(self, frame)

    monkeypatch.setattr(MaskBurner, "_masked", overloaded)
    svc = RecordingService([cam], data_dir, db, replace(FAST, burn_backlog_s=0.5))
    svc.start()
    try:
        assert wait_for(lambda: svc.statuses()[0].dropped_frames > 0, 20)
        st = svc.statuses()[0]
        assert st.state == State.DEGRADED and st.online and st.recording
        assert "missing frames" in st.error
        assert st.dropped_at is not None

        def on_disk() -> CameraStatus | None:  # the status file, rewritten every 0.5 s
            snap = read_status(data_dir)
            return snap.cameras[0] if snap and snap.cameras[0].dropped_frames else None

        assert wait_for(on_disk, 5)
        assert on_disk().state == State.DEGRADED  # type: ignore[union-attr]
    finally:
        svc.stop()
    assert read_status(data_dir).cameras[0].dropped_frames >= st.dropped_frames  # type: ignore[union-attr]
    # what was recorded is whole: every segment decodes, frames dropped only up to a keyframe
    segs = camera_segments(db, "till")
    assert segs
    for s in segs:
        path = recordings_dir(data_dir) / s.path
        assert decode_all(path) == probe_segment(path).packets


def test_analysis_drops_are_in_the_camera_status(data_dir: Path) -> None:
    cams = [CameraConfig(name="lobby", url="lobby.mp4", record=False)]
    svc = RecordingService(cams, data_dir, None, FAST)
    assert svc.statuses()[0].analysis_dropped == 0
    svc.analysis_dropped = lambda: {"lobby": 7}
    st = svc.statuses()[0]
    assert st.analysis_dropped == 7
    st.dropped_frames = 3
    fake = SimpleNamespace(live=LiveFrames(), config=VigilConfig(cameras=cams))
    out = camera_out(fake, cams[0], {"lobby": st})  # type: ignore[arg-type]
    assert (out.dropped_frames, out.analysis_dropped) == (3, 7)
