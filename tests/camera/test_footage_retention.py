"""Retention on real files and a real database: age, quota, free space, evidence locks."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from sqlalchemy import select

from tests.camera.conftest import add_footage, decode_all, wait_for
from vigil.camera.footage_retention import (
    GB,
    FootageRetention,
    disk_state,
    lock_segments,
    read_report,
    run_retention,
    unlock_segments,
)
from vigil.camera.index import camera_segments, recordings_dir, segment_relpath
from vigil.camera.recorder import RecorderOptions, RecordingService
from vigil.cli import run as cli
from vigil.config import CameraConfig, RecordingConfig
from vigil.maintenance import Scheduler
from vigil.store.db import Database
from vigil.store.models.audit import AuditRecord

NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real 1 s H.264 fragmented MP4 (noise, so it has some size): one 'segment'."""
    path = tmp_path_factory.mktemp("clip") / "seg.mp4"
    rng = np.random.default_rng(1)
    with av.open(
        str(path), "w", format="mp4", options={"movflags": "frag_keyframe+empty_moov"}
    ) as out:
        st = out.add_stream("libx264", rate=10)
        st.width, st.height, st.pix_fmt = 160, 120, "yuv420p"
        st.options = {"preset": "ultrafast", "g": "10"}
        for i in range(10):
            img = rng.integers(0, 255, (120, 160, 3), np.uint8)
            frame = av.VideoFrame.from_ndarray(img, format="bgr24").reformat(format="yuv420p")
            frame.pts, frame.time_base = i, Fraction(1, 10)
            for pkt in st.encode(frame):
                out.mux(pkt)
        for pkt in st.encode(None):
            out.mux(pkt)
    return path


@pytest.fixture
def db(data_dir: Path) -> Database:
    return Database(f"sqlite:///{data_dir / 'vigil.db'}")


def cams(**days: float) -> list[CameraConfig]:
    return [CameraConfig(name=n, url=f"/x/{n}.mp4", retention_days=d) for n, d in days.items()]


def test_quota_deletes_oldest_first_and_keeps_locked(db, data_dir: Path, clip: Path) -> None:
    size = clip.stat().st_size
    start = NOW - timedelta(hours=3)
    a = add_footage(db, data_dir, clip, "a", start, 10, 600)  # every 10 min
    b = add_footage(db, data_dir, clip, "b", start + timedelta(seconds=300), 10, 600)
    # the two oldest of camera a are evidence
    locked = lock_segments(
        db, "a", start, start + timedelta(seconds=1200), until=NOW + timedelta(days=7),
        reason="case 17", owner="tester",
    )  # fmt: skip
    assert locked == 2
    quota_gb = (15 * size + size // 2) / GB  # room for 15 of the 20 segments
    report = run_retention(
        db, data_dir, cams(a=30, b=30), RecordingConfig(disk_quota_gb=quota_gb, min_free_gb=0),
        now=NOW,
    )  # fmt: skip
    assert report.deleted_files == 5 and report.deleted_by_reason["quota"] == 5
    assert report.alarm == "" and report.used_bytes <= quota_gb * GB
    kept = {s.id for s in camera_segments(db, "a")} | {s.id for s in camera_segments(db, "b")}
    # interleaved a0 b0 a1 b1 a2 b2 a3 ...: a0, a1 locked -> b0 b1 a2 b2 a3 go
    gone = {b[0], b[1], a[2], b[2], a[3]}
    assert kept == (set(a) | set(b)) - gone
    for rel in report.deleted:
        assert not (recordings_dir(data_dir) / rel).exists()
    for seg in camera_segments(db, "a"):
        assert decode_all(recordings_dir(data_dir) / seg.path) == 10
    # the report is persisted, with the oldest footage kept and disk use per camera
    saved = read_report(data_dir)
    assert saved is not None and saved.deleted_files == 5
    usage = {c.camera: c for c in saved.cameras}
    assert usage["a"].oldest == start.isoformat() and usage["a"].locked_files == 2
    assert usage["b"].files == 7 and usage["b"].bytes == 7 * size
    assert usage["b"].deleted_files == 3
    data = json.loads((data_dir / "retention.json").read_text())
    assert data["ran_at"] == NOW.isoformat()
    # a second run has nothing to do and remembers the first
    again = run_retention(
        db, data_dir, cams(a=30, b=30), RecordingConfig(disk_quota_gb=quota_gb), now=NOW
    )
    assert again.deleted_files == 0 and again.history[0]["deleted_files"] == 5


def test_nothing_deletable_raises_the_alarm_until_unlocked(db, data_dir: Path, clip: Path) -> None:
    size = clip.stat().st_size
    add_footage(db, data_dir, clip, "a", NOW - timedelta(hours=1), 4, 60)
    lock_segments(
        db, "a", NOW - timedelta(days=1), NOW, until=NOW + timedelta(days=1),
        reason="incident", owner="t",
    )  # fmt: skip
    rec = RecordingConfig(disk_quota_gb=2 * size / GB, min_free_gb=0)
    report = run_retention(db, data_dir, cams(a=30), rec, now=NOW)
    assert report.deleted_files == 0 and len(camera_segments(db, "a")) == 4
    assert "quota" in report.alarm and "nothing left to delete" in report.alarm
    # the recorder asks before writing: stop (read from the persisted report here)
    state = disk_state(data_dir, rec.model_copy(update={"retention_interval_s": 1e9}))
    assert not state.ok and "quota" in state.reason
    # an old alarm is not trusted: retention stopped running, not the disk
    assert disk_state(data_dir, rec.model_copy(update={"retention_interval_s": 1})).ok
    assert unlock_segments(db, "a", NOW - timedelta(days=1), NOW) == 4
    report = run_retention(db, data_dir, cams(a=30), rec, now=NOW)
    assert report.deleted_files == 2 and report.alarm == ""
    assert disk_state(data_dir, rec).ok


def test_free_space_that_cannot_be_restored_deletes_nothing(db, data_dir: Path, clip: Path) -> None:
    ids = add_footage(db, data_dir, clip, "a", NOW - timedelta(days=3), 5, 60)
    # more free space than any disk has: deleting every segment could not restore it, so
    # none is deleted (before: all four unlocked ones went, then the alarm anyway)
    report = run_retention(db, data_dir, cams(a=30), RecordingConfig(min_free_gb=1e9), now=NOW)
    assert report.deleted_files == 0
    assert [s.id for s in camera_segments(db, "a")] == ids
    assert "under min_free_gb" in report.alarm and "so none was deleted" in report.alarm
    assert report.held_back["min_free"]["deletable_bytes"] == 5 * clip.stat().st_size


def test_locks_expire_unless_renewed(db, data_dir: Path, clip: Path) -> None:
    now = datetime.now(UTC)
    old = now - timedelta(days=40)  # older than the 30 days kept
    add_footage(db, data_dir, clip, "a", old, 3, 60)
    span = (old, old + timedelta(minutes=3))
    assert lock_segments(db, "a", *span, until=now + timedelta(hours=1), reason="r1", owner="u1")
    # renewing extends; an earlier end never shortens; reasons and owners accumulate
    lock_segments(db, "a", *span, until=now + timedelta(hours=2), reason="r2", owner="u2")
    lock_segments(db, "a", *span, until=now + timedelta(minutes=5), reason="r2", owner="u2")
    seg = camera_segments(db, "a")[0]
    assert seg.locked_until is not None
    assert abs((seg.locked_until - (now + timedelta(hours=2))).total_seconds()) < 1
    assert seg.lock_reason == "r1; r2" and seg.lock_owner == "u1, u2"
    with pytest.raises(ValueError):
        lock_segments(db, "a", *span, until=now - timedelta(1), reason="late", owner="u")

    report = run_retention(db, data_dir, cams(a=30), RecordingConfig(), now=now)
    assert report.deleted_files == 0 and len(camera_segments(db, "a")) == 3
    # two hours later nobody renewed it: the lock lapses and age retention applies
    later = now + timedelta(hours=2, seconds=1)
    report = run_retention(db, data_dir, cams(a=30), RecordingConfig(), now=later)
    assert report.locks_expired == 3
    assert report.deleted_by_reason["age"] == 3 and camera_segments(db, "a") == []
    assert not (recordings_dir(data_dir) / "a" / f"{old:%Y-%m-%d}").exists()


def test_missing_file_row_is_removed_and_reported(db, data_dir: Path, clip: Path) -> None:
    add_footage(db, data_dir, clip, "a", NOW - timedelta(hours=1), 3, 60)
    victim = camera_segments(db, "a")[1]
    (recordings_dir(data_dir) / victim.path).unlink()
    report = run_retention(db, data_dir, cams(a=30), RecordingConfig(), now=NOW)
    assert report.missing_files == 1 and report.missing == [victim.path]
    assert report.deleted_files == 0 and report.errors == []
    assert [s.path for s in camera_segments(db, "a")] == [
        s for s in (segment_relpath("a", NOW - timedelta(hours=1) + timedelta(seconds=i * 60))
                    for i in (0, 2))
    ]  # fmt: skip


def test_retention_by_days_per_camera(db, data_dir: Path, clip: Path) -> None:
    start = NOW - timedelta(days=40)
    for cam in ("short", "long", "gone"):
        add_footage(db, data_dir, clip, cam, start, 40, 86400)  # one a day for 40 days
    report = run_retention(db, data_dir, cams(short=1, long=3.5), RecordingConfig(), now=NOW)
    usage = {c.camera: c for c in report.cameras}
    # a segment goes once its *end* is older than the retention
    assert usage["short"].files == 1 and usage["long"].files == 4
    assert usage["gone"].files == 30 and not usage["gone"].configured  # default 30 days
    assert report.deleted_by_reason["age"] == 39 + 36 + 10
    oldest = datetime.fromisoformat(usage["long"].oldest or "")
    assert oldest == NOW - timedelta(days=4)  # it ends 3 days ago: within 3.5 days


def test_cli_lock_run_status(db, data_dir: Path, clip: Path, capsys) -> None:
    t0 = datetime.now(UTC) - timedelta(days=40)
    add_footage(db, data_dir, clip, "cam", t0, 3, 60)
    base = ["--data-dir", str(data_dir)]
    span = ["--from", t0.isoformat(), "--to", (t0 + timedelta(seconds=90)).isoformat()]
    assert (
        cli([*base, "segments", "lock", "cam", *span, "--reason", "case 9", "--until", "2d"]) == 0
    )
    assert "locked 2 segment(s)" in capsys.readouterr().out
    assert cli([*base, "segments", "lock", "nope", *span, "--reason", "x"]) == 3
    assert cli([*base, "retention", "run", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["deleted_files"] == 1 and out["deleted_by_reason"]["age"] == 1
    assert cli([*base, "retention", "status"]) == 0
    text = capsys.readouterr().out
    assert "deleted 1 file(s)" in text and "cam" in text
    assert cli([*base, "segments", "locked", "--json"]) == 0
    held = json.loads(capsys.readouterr().out)
    assert len(held) == 2 and held[0]["reason"] == "case 9"
    assert cli([*base, "segments", "unlock", "cam", *span]) == 0
    assert cli([*base, "retention", "run"]) == 0
    assert camera_segments(db, "cam") == []
    # locking, releasing and running retention by hand are in the audit chain
    with db.session() as s:
        actions = [(r.action, r.reason) for r in s.scalars(select(AuditRecord))]
    assert ("lock_footage", "case 9") in actions
    assert [a for a, _ in actions].count("lock_footage") == 2
    assert [a for a, _ in actions].count("retention_run") == 2


@pytest.mark.timeout(90)
def test_small_quota_while_recording(h264_file: Path, data_dir: Path, db) -> None:
    """A real recorder on a looped file, retention every second under a ~3-segment quota:
    the oldest footage goes, the locked first segment stays, recording carries on."""
    seg_bytes = h264_file.stat().st_size // 2  # 2 s segments of a 4 s file
    rec = RecordingConfig(disk_quota_gb=3 * seg_bytes / GB, min_free_gb=0, retention_interval_s=1)
    cam = CameraConfig(name="cam", url=str(h264_file), loop=True, segment_seconds=2)
    svc = RecordingService(
        [cam], data_dir, db, RecorderOptions(index_interval_s=0.5, status_interval_s=0.5)
    )
    deleted: list[int] = []
    retention = FootageRetention(
        db, data_dir, [cam], rec, on_report=lambda r: deleted.append(r.deleted_files)
    )
    sched = Scheduler()
    retention.add_to(sched, check_s=0.5)
    svc.start()
    sched.start()
    try:
        assert wait_for(lambda: any(s.complete for s in camera_segments(db, "cam")), 20)
        first = camera_segments(db, "cam")[0]
        lock_segments(
            db, "cam", first.start, first.start + timedelta(seconds=0.5),
            until=datetime.now(UTC) + timedelta(hours=1), reason="evidence", owner="t",
        )  # fmt: skip
        assert wait_for(lambda: svc.statuses()[0].segments_written >= 7, 40)
        assert wait_for(lambda: sum(deleted) >= 3, 10), deleted
        st = svc.statuses()[0]
        assert st.recording and st.error == "", st
        assert retention.disk_ok()
    finally:
        sched.stop()
        svc.stop()
    segs = camera_segments(db, "cam")
    assert segs[0].id == first.id  # locked: kept although the oldest
    assert len(segs) < 7  # older unlocked footage went
    report = run_retention(db, data_dir, [cam], rec)
    assert report.used_bytes <= rec.disk_quota_gb * GB  # type: ignore[operator]
    assert report.history and sum(h["deleted_files"] for h in report.history) == sum(deleted)
    for s in camera_segments(db, "cam"):
        assert decode_all(recordings_dir(data_dir) / s.path) > 0


def _can_mount_tmpfs(where: Path) -> bool:
    if shutil.which("mount") is None:
        return False
    probe = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(where)], capture_output=True
    )
    if probe.returncode:
        return False
    subprocess.run(["umount", str(where)], check=True)
    return True


def test_free_space_on_a_small_filesystem(db, data_dir: Path, clip: Path) -> None:
    """A real 2 MB filesystem: retention deletes the oldest until min_free_gb is free."""
    root = recordings_dir(data_dir)
    root.mkdir()
    if not _can_mount_tmpfs(root):
        pytest.skip("cannot mount a small tmpfs here (needs root / CAP_SYS_ADMIN)")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(root)], check=True)
    try:
        size = clip.stat().st_size
        n = int(1.6e6 // size)
        # past the 24 h that free space never takes (keep_at_least_hours)
        add_footage(db, data_dir, clip, "a", NOW - timedelta(days=2), n, 60)
        free_before = shutil.disk_usage(root).free
        want_free = free_before + 5 * size
        rec = RecordingConfig(min_free_gb=want_free / GB)
        report = run_retention(db, data_dir, cams(a=30), rec, now=NOW)
        assert report.alarm == ""
        assert report.free_bytes >= want_free
        assert 5 <= report.deleted_by_reason["min_free"] <= 7  # block rounding
        assert len(camera_segments(db, "a")) == n - report.deleted_files
        assert min(s.start for s in camera_segments(db, "a")) > NOW - timedelta(days=2)
    finally:
        subprocess.run(["umount", "-l", str(root)], check=False)
