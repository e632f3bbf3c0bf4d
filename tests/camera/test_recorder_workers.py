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


@pytest.mark.timeout(90)
def test_worker_cameras_are_watched_live_over_the_recorders_connection(
    rtsp_server, data_dir: Path
) -> None:
    """A camera recorded in a worker is muxed there while someone watches it here, and relayed:
    no second connection to the camera; an unwatched camera's worker muxes nothing."""
    from tests.camera.test_live_feed import Collect, frames_in
    from vigil.camera.live_feed import Kind, LiveFeeds
    from vigil.camera.recorder import RecordingService

    srv = rtsp_server()
    feeds = LiveFeeds(idle_s=1.0)
    cams = [CameraConfig(name=n, url=srv.url, segment_seconds=2) for n in ("a", "b")]
    opts = replace(WORKERS, cameras_per_worker=1)
    svc = RecordingService(cams, data_dir, _db(data_dir), opts, live=feeds)
    assert len(svc.workers) == 2 and not svc.recorders
    feed = feeds.feed("a")
    first, late, again = Collect(), Collect(), Collect()
    svc.start()
    try:
        assert wait_for(lambda: all(s.recording for s in svc.statuses()), 20)
        feeds.watch(cams[0], first)
        assert wait_for(lambda: len(first.media()) >= 10, 20)
        feeds.watch(cams[0], late)  # joins mid-stream: the init and the GOP so far, at once
        assert wait_for(lambda: len(late.media()) >= 4, 10)
        assert feed.codec == "h264" and not feed.masked
        assert feeds.feed("b").fragments == 0  # nobody watches b

        feed.unsubscribe(first)
        feed.unsubscribe(late)
        assert wait_for(lambda: not feed.ready, 8)  # idle: the worker stopped relaying it
        time.sleep(0.5)
        n = feed.fragments
        time.sleep(1.5)
        assert feed.fragments == n
        feeds.watch(cams[0], again)  # watched again: a new stream from the next keyframe
        assert wait_for(lambda: len(again.media()) >= 4, 15)
    finally:
        svc.stop()
    assert feeds.readers_started == 0  # the recorders' connections were the only ones
    a, b = first.media(), late.media()
    assert a[0][4:8] == b"ftyp" and b[0] == a[0]
    assert set(b[1:]) <= set(a[1:])
    assert frames_in(a) >= len(a) - 2  # one frame a fragment
    assert frames_in(b) >= 3 and frames_in(again.media()) >= 3  # each starts at a keyframe
    assert again.got[-1] == (Kind.END, b"recording stopped")


def test_a_slow_pipe_cuts_a_live_stream_until_its_next_keyframe() -> None:
    """The relay never blocks a recorder: past its queue a camera's messages are dropped, and
    it restarts (reset, init) at its next keyframe instead of sending a torn stream."""
    import threading

    from vigil.camera.live_feed import LiveFeed
    from vigil.camera.workers import LiveRelay

    busy, go = threading.Event(), threading.Event()
    sent: list[tuple[str, bytes]] = []

    def send(msg: tuple) -> None:
        busy.set()
        go.wait(10)
        _camera, event, data, *_ = msg[1]
        sent.append((event, data))

    relay = LiveRelay(send, limit=4)
    tap = relay.tap(LiveFeed("x"))
    tap("init", b"I", False)
    assert busy.wait(5)  # the sender holds the init; the queue is empty
    for name in ("k1", "f2", "f3", "f4", "f5", "f6"):  # f5 finds the queue full
        tap("fragment", name.encode(), name.startswith("k"))
    tap("fragment", b"k7", True)  # a keyframe, but still no room for a restart
    go.set()
    assert wait_for(lambda: len(sent) == 5, 5)
    tap("fragment", b"f8", False)
    tap("fragment", b"k9", True)
    relay.close()
    assert sent == [
        ("init", b"I"), ("fragment", b"k1"), ("fragment", b"f2"), ("fragment", b"f3"),
        ("fragment", b"f4"), ("reset", b""), ("init", b"I"), ("fragment", b"k9"),
    ]  # fmt: skip
