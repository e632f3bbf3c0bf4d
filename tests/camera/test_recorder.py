"""Recording from a real RTSP server: segments, index, reconnect, watchdog, crash safety."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.camera.conftest import decode_all, wait_for
from vigil.camera.index import camera_segments, coverage, probe_segment, recordings_dir
from vigil.camera.recorder import RecorderBusyError, RecorderOptions, RecordingService
from vigil.camera.status import State, read_status
from vigil.config import CameraConfig
from vigil.store.db import Database

FAST = RecorderOptions(
    io_timeout_s=1.0,
    backoff_initial_s=0.5,
    backoff_max_s=1.0,
    index_interval_s=0.5,
    status_interval_s=0.5,
)


def _db(data_dir: Path) -> Database:
    return Database(f"sqlite:///{data_dir / 'vigil.db'}")


def _segments_ok(db: Database, data_dir: Path, camera: str) -> list:
    segs = camera_segments(db, camera)
    root = recordings_dir(data_dir)
    for s in segs:
        assert s.complete, s.path
        assert (root / s.path).is_file()
        assert s.keyframes and s.keyframes[0] == 0.0, "a segment starts at a keyframe"
        probe = probe_segment(root / s.path)
        assert probe.packets > 0
        assert abs(probe.duration - (s.end - s.start).total_seconds()) < 0.15
        assert s.size_bytes == (root / s.path).stat().st_size
    return segs


@pytest.mark.timeout(60)
@pytest.mark.parametrize("copy_loop", ["auto", "python"])  # C (0079) and PyAV
def test_records_rtsp_into_indexed_segments(copy_loop: str, rtsp_server, data_dir: Path) -> None:
    srv = rtsp_server()
    db = _db(data_dir)
    cam = CameraConfig(name="gate", url=srv.url, segment_seconds=2)
    udp = CameraConfig(name="gate-udp", url=srv.url, segment_seconds=2, rtsp_transport="udp")
    t0 = datetime.now(UTC)
    svc = RecordingService([cam, udp], data_dir, db, replace(FAST, copy_loop=copy_loop))
    svc.start()
    try:
        assert wait_for(lambda: svc.statuses()[0].segments_written >= 3, 20)
        assert wait_for(lambda: svc.statuses()[1].segments_written >= 2, 5)
        st = svc.statuses()[0]
        assert st.state == State.ONLINE and st.online and st.recording
        assert st.codec == "h264" and (st.width, st.height) == (768, 576)
        assert st.fps and 8 <= st.fps <= 12
        assert st.bitrate_kbps and st.bitrate_kbps > 100
        # a second recorder on the same data folder is refused while this one runs
        with pytest.raises(RecorderBusyError, match="already recording"):
            RecordingService([cam], data_dir, db, FAST).start()
        # the persisted status file says the same
        assert wait_for(lambda: (s := read_status(data_dir)) and s.cameras[0].online, 3)
    finally:
        svc.stop()
    t1 = datetime.now(UTC)
    segs = _segments_ok(db, data_dir, "gate")
    assert len(segs) >= 3
    # wall clock: inside the run, segments about segment_seconds long, back to back
    assert t0 - timedelta(seconds=1) <= segs[0].start and segs[-1].end <= t1 + timedelta(seconds=1)
    for s in segs[:-1]:
        assert 1.9 <= (s.end - s.start).total_seconds() <= 2.2
    cov = coverage(segs, tolerance_s=0.15)
    assert len(cov.spans) == 1, cov.gaps
    rel = segs[0].path.split("/")
    assert rel[0] == "gate" and rel[1] == segs[0].start.strftime("%Y-%m-%d")
    assert rel[2] == segs[0].start.strftime("%H%M%S") + ".mp4"
    for s in segs:  # full segments hold 2 s at 10 fps; the last one stops early
        assert decode_all(recordings_dir(data_dir) / s.path) >= (1 if s is segs[-1] else 19)
    assert read_status(data_dir).cameras[0].state == State.STOPPED
    udp_segs = _segments_ok(db, data_dir, "gate-udp")  # the same stream over RTP/UDP
    assert len(udp_segs) >= 2


@pytest.mark.timeout(90)
def test_server_restart_resumes_and_leaves_a_gap(rtsp_server, data_dir: Path) -> None:
    srv = rtsp_server()
    db = _db(data_dir)
    cam = CameraConfig(name="yard", url=srv.url, segment_seconds=2)
    svc = RecordingService([cam], data_dir, db, FAST)
    svc.start()
    try:
        assert wait_for(lambda: svc.statuses()[0].segments_written >= 1, 15)
        srv.kill()
        killed_at = datetime.now(UTC)
        assert wait_for(lambda: not svc.statuses()[0].online, 10)
        st = svc.statuses()[0]
        assert st.state == State.OFFLINE and st.offline_since and st.error
        time.sleep(2.5)  # the camera stays away for a while
        srv2 = rtsp_server(port=srv.port)
        back_at = datetime.now(UTC)
        assert wait_for(lambda: svc.statuses()[0].online, 15)
        n = svc.statuses()[0].segments_written
        assert wait_for(lambda: svc.statuses()[0].segments_written >= n + 1, 15)
        st = svc.statuses()[0]
        assert st.reconnects >= 1 and st.error == "" and st.offline_since is None
    finally:
        svc.stop()
        srv2.stop()
    segs = _segments_ok(db, data_dir, "yard")
    cov = coverage(segs, tolerance_s=0.15)
    assert len(cov.spans) == 2, cov.spans
    gap_start, gap_end = cov.gaps[0]
    # the gap is where the server was away, and at least as long as its absence
    assert gap_start <= killed_at + timedelta(seconds=0.5)
    assert gap_end >= back_at
    assert (gap_end - gap_start).total_seconds() >= 2.4


@pytest.mark.timeout(60)
def test_frozen_stream_is_noticed_by_the_timeout(rtsp_server, data_dir: Path) -> None:
    srv = rtsp_server()
    cam = CameraConfig(name="frozen", url=srv.url, segment_seconds=2)
    svc = RecordingService([cam], data_dir, _db(data_dir), FAST)
    svc.start()
    try:
        assert wait_for(lambda: svc.statuses()[0].online, 15)
        os.kill(srv.proc.pid, signal.SIGSTOP)
        try:
            t = time.monotonic()
            assert wait_for(lambda: not svc.statuses()[0].online, 12)
            took = time.monotonic() - t
            st = svc.statuses()[0]
            assert "timed out" in st.error or "no answer" in st.error, st.error
            assert took < 8
        finally:
            os.kill(srv.proc.pid, signal.SIGCONT)
    finally:
        svc.stop()
    _segments_ok(svc.db, data_dir, "frozen")


def _write_config(path: Path, data_dir: Path, cams: list[dict]) -> Path:
    lines = ["storage:", f"  data_dir: {data_dir}", "cameras:"]
    for c in cams:
        lines.append(f"  - name: {c['name']}")
        for k, v in c.items():
            if k != "name":
                lines.append(f"    {k}: {v}")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.timeout(90)
def test_kill9_mid_segment_then_repair(rtsp_server, data_dir: Path, tmp_path: Path) -> None:
    srv = rtsp_server()
    cfg = _write_config(
        tmp_path / "vigil.yaml", data_dir, [{"name": "dock", "url": srv.url, "segment_seconds": 4}]
    )
    cmd = [
        sys.executable,
        "-c",
        "from vigil.cli import main; main()",
        "-c",
        str(cfg),
        "record",
        "--no-live",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    db = _db(data_dir)
    root = recordings_dir(data_dir)
    try:
        # two finished segments, then 2.5 s into the third one (past a few fragments)
        assert wait_for(lambda: len(camera_segments(db, "dock")) >= 3, 30), proc.poll()
        time.sleep(2.5)
        proc.kill()  # SIGKILL: no cleanup at all
        killed_at = datetime.now(UTC)
        proc.wait(5)
    finally:
        if proc.poll() is None:
            proc.kill()
    before = camera_segments(db, "dock")
    assert not before[-1].complete, "the in-progress segment was not finished"
    in_progress = root / before[-1].path
    # an index row written before a fragment reached the disk is an orphan case too:
    # drop one finished row to check that its file is indexed again
    from vigil.camera.index import delete_segment_row, repair_index

    delete_segment_row(db, before[0].id)
    report = repair_index(db, data_dir, ["dock"])
    assert before[-1].path in report.fixed
    assert before[0].path in report.added
    after = _segments_ok(db, data_dir, "dock")
    assert {s.path for s in after} == {s.path for s in before}
    for s in after:
        assert decode_all(root / s.path) > 0
    # the interrupted segment plays up to its last fragment: at most one keyframe interval
    # (1 s) plus delivery latency before the kill
    last = after[-1]
    assert last.path == before[-1].path
    assert decode_all(in_progress) >= 20
    assert killed_at - last.end < timedelta(seconds=2.5), (killed_at, last.end)
    assert len(coverage(after, tolerance_s=0.15).spans) == 1
    # a row whose file is gone is removed, and logged in the report
    (root / after[1].path).unlink()
    report = repair_index(db, data_dir, ["dock"])
    assert report.removed == [after[1].path]
    assert len(camera_segments(db, "dock")) == len(after) - 1
