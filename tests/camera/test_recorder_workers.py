"""Recording in worker processes (0072): groups of cameras a process, supervised by the service."""

from __future__ import annotations

import os
import signal
import time
from dataclasses import replace
from pathlib import Path

import pytest

from tests.camera.conftest import wait_for
from tests.camera.test_recorder import FAST, _db, _segments_ok
from vigil.camera.footage_retention import DiskState
from vigil.camera.segment import SegmentInfo
from vigil.camera.status import State, read_status
from vigil.camera.workers import split_groups
from vigil.config import CameraConfig
from vigil.process import free_port

WORKERS = replace(FAST, cameras_per_worker=2)


def test_cameras_are_dealt_into_even_groups() -> None:
    cams = [CameraConfig(name=f"c{i}", url="rtsp://h/x") for i in range(5)]
    groups = split_groups(cams, 2)
    assert [[c.name for c in g] for g in groups] == [["c0", "c3"], ["c1", "c4"], ["c2"]]
    assert [len(g) for g in split_groups(cams, 8)] == [5]


@pytest.mark.timeout(90)
def test_workers_record_survive_a_crash_and_a_dead_camera(
    rtsp_server, data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Four cameras in two workers; one camera points at nothing and shares its worker with a
    live one; one worker is killed with SIGKILL mid-segment and comes back; the disk guard's
    state reaches the workers."""
    from vigil.camera.recorder import RecordingService

    srv = rtsp_server()
    db = _db(data_dir)
    dead_url = f"rtsp://127.0.0.1:{free_port()}/nothing"
    cams = [
        CameraConfig(name="a", url=srv.url, segment_seconds=2),
        CameraConfig(name="dead", url=dead_url, segment_seconds=2),
        CameraConfig(name="b", url=srv.url, segment_seconds=2),
        CameraConfig(name="c", url=srv.url, segment_seconds=2),
    ]
    disk = [DiskState(ok=True, free_bytes=10**12)]
    closed: list[SegmentInfo] = []
    opts = replace(WORKERS, disk_check=lambda: disk[0])
    svc = RecordingService(cams, data_dir, db, opts, on_segment=closed.append)
    assert len(svc.workers) == 2 and not svc.recorders
    # round robin: "dead" and "c" share the second worker
    assert [c.name for c in svc.workers[1].spec.cameras] == ["dead", "c"]

    def st(name: str):
        return next(s for s in svc.statuses() if s.name == name)

    svc.start()
    try:
        live = ("a", "b", "c")
        assert wait_for(lambda: all(st(n).segments_written >= 1 for n in live), 30)
        dead = st("dead")
        assert not dead.online and dead.state == State.OFFLINE and dead.error
        # the worker's log records come out of the parent's logging
        assert any(
            r.name == "vigil.camera.recorder" and r.getMessage().startswith("dead:")
            for r in caplog.records
        )
        # the parent persisted every camera's status, written by the workers
        assert wait_for(lambda: (s := read_status(data_dir)) and len(s.cameras) == 4, 3)
        # segments closed in the workers reach the parent's listener
        assert {i.camera for i in closed} >= set(live)

        # kill -9 the worker of "a" and "b": they show the error, then record again
        first = svc.workers[0]
        pid = first.pid
        assert pid is not None
        c_before = st("c").segments_written
        os.kill(pid, signal.SIGKILL)
        assert wait_for(lambda: st("a").state == State.ERROR, 5)
        assert "recorder worker process exited" in st("a").error
        assert wait_for(lambda: first.pid != pid and st("a").recording, 20)
        assert wait_for(lambda: st("b").segments_written >= 1 and st("a").reconnects >= 1, 10)
        # the other worker never stopped: its live camera went on closing segments
        assert st("c").segments_written > c_before

        # the disk guard: a full disk pauses new segments in the workers, space resumes them
        disk[0] = DiskState(ok=False, free_bytes=0, reason="disk full (test)")
        assert wait_for(lambda: "recording paused" in st("c").error, 10)
        disk[0] = DiskState(ok=True, free_bytes=10**12)
        n = st("c").segments_written
        assert wait_for(lambda: st("c").segments_written > n, 15)
    finally:
        t0 = time.monotonic()
        svc.stop()
        stop_s = time.monotonic() - t0
    assert stop_s < 10
    assert all(w.pid is not None for w in svc.workers)
    for name in ("a", "b", "c"):  # complete, playable, indexed: the killed one's repaired too
        assert len(_segments_ok(db, data_dir, name)) >= 2
    assert read_status(data_dir) is not None
    assert {s.state for s in read_status(data_dir).cameras if s.name in ("a", "b", "c")} == {
        State.STOPPED
    }


@pytest.mark.timeout(60)
def test_frozen_udp_stream_is_noticed_without_pyav_read_timeout(
    rtsp_server, data_dir: Path
) -> None:
    """RTSP is read without PyAV's read timeout (0072): FFmpeg's own `timeout` must still
    notice a server that stops answering, over UDP as over TCP."""
    from vigil.camera.recorder import RecordingService

    srv = rtsp_server()
    cam = CameraConfig(name="frozen", url=srv.url, segment_seconds=2, rtsp_transport="udp")
    svc = RecordingService([cam], data_dir, _db(data_dir), replace(FAST, io_timeout_s=2.0))
    svc.start()
    try:
        assert wait_for(lambda: svc.statuses()[0].online, 15)
        os.kill(srv.proc.pid, signal.SIGSTOP)
        try:
            t = time.monotonic()
            assert wait_for(lambda: not svc.statuses()[0].online, 15)
            assert time.monotonic() - t < 12
        finally:
            os.kill(srv.proc.pid, signal.SIGCONT)
    finally:
        svc.stop()
    _segments_ok(svc.db, data_dir, "frozen")
