"""Bad input never crashes the recorder: each camera gets a clear status, others keep going."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from tests.camera.conftest import decode_all, wait_for
from vigil.camera.index import camera_segments, recordings_dir
from vigil.camera.recorder import RecorderOptions, RecordingService
from vigil.camera.status import State
from vigil.config import CameraConfig
from vigil.process import free_port
from vigil.store.db import Database

FAST = RecorderOptions(
    io_timeout_s=1.0,
    backoff_initial_s=0.5,
    backoff_max_s=1.0,
    index_interval_s=0.5,
    status_interval_s=0.5,
)


@pytest.fixture
def silent_server() -> Iterator[str]:
    """Accepts TCP connections and never says a word (a hung camera or a black hole)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    srv.settimeout(0.2)
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                held.append(srv.accept()[0])
            except OSError:
                continue

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield f"rtsp://127.0.0.1:{srv.getsockname()[1]}/cam"
    stop.set()
    t.join(2)
    for c in held:
        c.close()
    srv.close()


@pytest.mark.timeout(90)
def test_bad_sources_get_clear_status_and_good_camera_records(
    rtsp_server,
    garbage_server: str,
    silent_server: str,
    h264_file: Path,
    data_dir: Path,
    tmp_path: Path,
) -> None:
    good = rtsp_server()
    auth = rtsp_server(user="alice", password="s3cret")
    hostport = auth.url.split("//", 1)[1].split("/", 1)[0]
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00\x01garbage, not a video" * 4000)
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(h264_file.read_bytes()[:300])
    cams = [
        CameraConfig(name="good", url=good.url, segment_seconds=2),
        CameraConfig(name="junkfile", url=str(junk), segment_seconds=2),
        CameraConfig(name="truncated", url=str(truncated), segment_seconds=2),
        CameraConfig(name="missing", url=str(tmp_path / "nope.mp4"), segment_seconds=2),
        CameraConfig(name="garbage", url=garbage_server, segment_seconds=2),
        CameraConfig(name="silent", url=silent_server, segment_seconds=2),
        CameraConfig(name="refused", url=f"rtsp://127.0.0.1:{free_port()}/cam", segment_seconds=2),
        CameraConfig(name="wrongpw", url=f"rtsp://alice:wrong@{hostport}/cam", segment_seconds=2),
        CameraConfig(name="nopw", url=auth.url, segment_seconds=2),
        CameraConfig(name="rightpw", url=f"rtsp://alice:s3cret@{hostport}/cam", segment_seconds=2),
        CameraConfig(name="unknownhost", url="rtsp://camera.invalid/cam", segment_seconds=2),
        CameraConfig(name="off", url="rtsp://127.0.0.1:1/cam", enabled=False),
    ]
    db = Database(f"sqlite:///{data_dir / 'vigil.db'}")
    svc = RecordingService(cams, data_dir, db, FAST)
    svc.start()
    try:
        assert wait_for(
            lambda: all(
                s.segments_written >= 2 for s in svc.statuses() if s.name in ("good", "rightpw")
            ),
            45,  # rightpw may time out once (1 s) while the server answers the wrong logins
        )
        assert wait_for(
            lambda: all(s.error for s in svc.statuses() if s.name not in ("good", "rightpw")), 10
        )
        st = {s.name: s for s in svc.statuses()}
        assert all(r.is_alive() for r in svc.recorders.values()), "no recorder thread died"
    finally:
        svc.stop()
    for name in ("good", "rightpw"):
        assert st[name].state == State.ONLINE and not st[name].error
    expect = {
        "junkfile": "invalid data",
        "truncated": "invalid data",
        "missing": "not found",
        "garbage": "invalid data",
        "silent": "no answer",
        "refused": "connection refused",
        "wrongpw": "authentication failed",
        "nopw": "authentication failed",
        "unknownhost": "host name not found",
    }
    for name, words in expect.items():
        assert st[name].state == State.OFFLINE and not st[name].online, name
        assert words in st[name].error, (name, st[name].error)
        assert "s3cret" not in st[name].error and "wrong@" not in st[name].error
    assert st["off"].state == State.DISABLED
    assert "alice:***@" in st["rightpw"].url
    for name in expect:
        assert camera_segments(db, name) == []


@pytest.mark.timeout(60)
def test_unwritable_folder_is_reported_and_other_cameras_record(
    rtsp_server, data_dir: Path
) -> None:
    srv = rtsp_server()
    blocked = recordings_dir(data_dir) / "blocked"
    blocked.parent.mkdir(parents=True)
    blocked.write_text("a file where the camera's folder should be")
    cams = [
        CameraConfig(name="blocked", url=srv.url, segment_seconds=2),
        CameraConfig(name="fine", url=srv.url, segment_seconds=2),
    ]
    db = Database(f"sqlite:///{data_dir / 'vigil.db'}")
    svc = RecordingService(cams, data_dir, db, FAST)
    svc.start()
    try:
        assert wait_for(
            lambda: {s.name: s for s in svc.statuses()}["fine"].segments_written >= 2, 20
        )
        assert wait_for(lambda: {s.name: s for s in svc.statuses()}["blocked"].error, 5)
        st = {s.name: s for s in svc.statuses()}
    finally:
        svc.stop()
    assert st["blocked"].state == State.ERROR
    assert "a file is in the way" in st["blocked"].error and "blocked" in st["blocked"].error
    assert blocked.read_text().startswith("a file"), "nothing already there was touched"
    assert camera_segments(db, "blocked") == []
    assert len(camera_segments(db, "fine")) >= 2


def _can_mount_tmpfs(where: Path) -> bool:
    if shutil.which("mount") is None:
        return False
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(where)], capture_output=True
    )
    if r.returncode:
        return False
    subprocess.run(["umount", str(where)], check=True)
    return True


@pytest.mark.timeout(90)
@pytest.mark.parametrize("copy_loop", ["auto", "python"])  # C (0079) and PyAV
def test_full_disk_keeps_footage_and_recording_resumes_when_space_returns(
    copy_loop: str, rtsp_server, data_dir: Path
) -> None:
    rec = recordings_dir(data_dir)
    rec.mkdir()
    if not _can_mount_tmpfs(rec):
        pytest.skip("cannot mount a small tmpfs here (needs root / CAP_SYS_ADMIN)")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", str(rec)], check=True)
    try:
        srv = rtsp_server()
        db = Database(f"sqlite:///{data_dir / 'vigil.db'}")
        options = replace(FAST, copy_loop=copy_loop)
        svc = RecordingService(
            [CameraConfig(name="cam", url=srv.url, segment_seconds=2)], data_dir, db, options
        )
        svc.start()
        try:
            assert wait_for(lambda: "disk full" in svc.statuses()[0].error, 30), svc.statuses()
            st = svc.statuses()[0]
            assert st.state == State.ERROR
            # everything written before the disk filled is indexed, complete and plays
            segs = camera_segments(db, "cam")
            assert segs and all(s.complete for s in segs)
            for s in segs:
                assert decode_all(rec / s.path) > 0
            # free space the way retention would (oldest segment), recording carries on
            (rec / segs[0].path).unlink()
            with db.session() as s:
                s.delete(s.get(type(segs[0]), segs[0].id))
            n = len(segs)
            assert wait_for(lambda: svc.statuses()[0].recording, 15)
            assert wait_for(lambda: len(camera_segments(db, "cam")) >= n, 10)
        finally:
            svc.stop()
        for s in camera_segments(db, "cam"):
            assert s.complete and decode_all(rec / s.path) > 0
    finally:
        subprocess.run(["umount", "-l", str(rec)], check=False)


@pytest.mark.timeout(60)
def test_segment_deleted_while_written_is_noticed(rtsp_server, data_dir: Path) -> None:
    srv = rtsp_server()
    db = Database(f"sqlite:///{data_dir / 'vigil.db'}")
    svc = RecordingService(
        [CameraConfig(name="cam", url=srv.url, segment_seconds=30)], data_dir, db, FAST
    )
    svc.start()
    try:
        assert wait_for(lambda: svc.statuses()[0].segment, 15)
        current = svc.statuses()[0].segment
        (recordings_dir(data_dir) / current).unlink()
        assert wait_for(lambda: "deleted" in svc.statuses()[0].error, 10)
        assert wait_for(lambda: svc.statuses()[0].segment not in ("", current), 10)
    finally:
        svc.stop()
    paths = [s.path for s in camera_segments(db, "cam")]
    assert current not in paths and paths
