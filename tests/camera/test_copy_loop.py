"""The recorder's copy loop in C (decision 0079): RTSP cameras recorded by it, a live view
fed by it while watched, and the PyAV loop wherever it cannot record."""

from __future__ import annotations

import itertools
from dataclasses import replace
from pathlib import Path

import pytest

from tests.camera.conftest import decode_all, wait_for
from tests.camera.test_live_feed import Collect, frames_in
from tests.camera.test_recorder import FAST, _segments_ok
from vigil.camera import copy_loop
from vigil.camera.copy_loop import NativeSource
from vigil.camera.index import camera_segments, coverage, probe_segment, recordings_dir
from vigil.camera.live_feed import Kind, LiveFeeds
from vigil.camera.recorder import CameraRecorder, RecorderOptions, RecordingService
from vigil.camera.segment import SegmentInfo
from vigil.camera.source import PacketSource
from vigil.config import CameraConfig
from vigil.store.db import Database


@pytest.fixture(scope="module")
def c_loop() -> None:
    if copy_loop.library() is None:
        pytest.fail(f"the C copy loop cannot be built here: {copy_loop._unavailable}")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("codec", ["h264", "hevc"])
def test_rtsp_camera_is_recorded_by_the_c_loop_and_watched_live(
    codec: str, c_loop: None, rtsp_server, data_dir: Path
) -> None:
    srv = rtsp_server(codec="h265" if codec == "hevc" else codec)
    db = Database(f"sqlite:///{data_dir / 'vigil.db'}")
    feeds = LiveFeeds()
    cam = CameraConfig(name="gate", url=srv.url, segment_seconds=2)
    svc = RecordingService([cam], data_dir, db, FAST, live=feeds)
    rec = svc.recorders["gate"]
    viewer = Collect()
    svc.start()
    try:
        assert wait_for(lambda: svc.statuses()[0].segments_written >= 1, 20)
        source = rec._source
        assert isinstance(source, NativeSource)
        assert not source.cam.per_packet  # nobody watches: Python runs once a keyframe
        st = svc.statuses()[0]
        assert st.online and st.codec == codec and st.fps and 8 <= st.fps <= 12
        assert st.last_packet_at and st.bitrate_kbps and st.bitrate_kbps > 100
        feed = feeds.feed("gate")
        assert feed.codec == codec  # the API knows what it can offer before anyone watches
        feed.subscribe(viewer)  # mid-GOP: the loop hands over the GOP so far, then each packet
        assert source.cam.per_packet
        assert wait_for(lambda: len(viewer.media()) >= 25, 10)
        feed.unsubscribe(viewer)
        assert wait_for(lambda: not source.cam.per_packet, 5)  # back to once a keyframe
        later = Collect()  # the feed started over: a new init, from the GOP so far
        feed.subscribe(later)
        assert wait_for(lambda: len(later.media()) >= 5, 10)
        assert wait_for(lambda: svc.statuses()[0].segments_written >= 3, 15)
    finally:
        svc.stop()
    for media in (viewer.media(), later.media()):
        assert media[0][4:8] == b"ftyp"
        assert frames_in(media) >= len(media) - 2  # one frame a fragment, from a keyframe on
    assert viewer.got[-1][0] is Kind.MEDIA  # it left before the recording stopped
    segs = _segments_ok(db, data_dir, "gate")
    assert len(coverage(segs, tolerance_s=0.15).spans) == 1  # watching cut nothing
    for s in segs[:-1]:
        assert 1.9 <= (s.end - s.start).total_seconds() <= 2.2
        assert decode_all(recordings_dir(data_dir) / s.path) >= 19  # 2 s at 10 fps
        assert s.keyframes == [0.0, 1.0]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("why", ["python", "burn-in", "unavailable", "codec"])
def test_the_pyav_loop_records_where_the_c_loop_does_not(
    why: str, rtsp_server, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    srv = rtsp_server()
    db = Database(f"sqlite:///{data_dir / 'vigil.db'}")
    cam = CameraConfig(name="yard", url=srv.url, segment_seconds=2)
    options = FAST
    if why == "python":
        options = replace(FAST, copy_loop="python")
    elif why == "burn-in":
        square = [(0.1, 0.1), (0.3, 0.1), (0.3, 0.3), (0.1, 0.3)]
        cam = cam.model_copy(update={"privacy_masks": [square], "privacy_masks_burn_in": True})
    elif why == "unavailable":  # no compiler or headers on this machine
        monkeypatch.setattr(copy_loop, "library", lambda: None)
    else:  # a codec the C loop leaves alone: found once connected
        monkeypatch.setattr(copy_loop, "CODECS", {})
    svc = RecordingService([cam], data_dir, db, options)
    svc.start()
    try:
        assert wait_for(lambda: svc.statuses()[0].segments_written >= 1, 20)
        assert isinstance(svc.recorders["yard"]._source, PacketSource)
    finally:
        svc.stop()
    assert _segments_ok(db, data_dir, "yard")
    assert camera_segments(db, "yard")[0].sha256


def test_a_step_closes_the_segment_and_the_next_starts_where_it_ended(
    c_loop: None, h264_file: Path, data_dir: Path
) -> None:
    # A file read unpaced runs ahead of the wall clock: past `max_drift_s` the C loop reports
    # a step, the segment closes, and the next keyframe (one a second) starts a new one.
    done: list[SegmentInfo] = []
    cam = CameraConfig(name="yard", url=str(h264_file), segment_seconds=60)
    opts = RecorderOptions(max_drift_s=0.55, fsync_on_close=False, fsync_interval_s=None)
    rec = CameraRecorder(cam, data_dir, None, opts, on_segment=done.append)
    src = NativeSource(str(h264_file), max_drift_s=opts.max_drift_s)
    try:
        src.open()
        assert rec._write_native(src)  # the end of the file
        rec._finish_segment()
    finally:
        src.close()
    assert len(done) >= 2
    assert probe_segment(done[0].path).packets >= 6  # up to the drift limit, 10 fps
    for seg in done:
        assert seg.keyframes[0] == 0.0
        assert decode_all(seg.path) == probe_segment(seg.path).packets > 0
    for before, after in itertools.pairwise(done):
        assert after.start >= before.end  # never an overlap
