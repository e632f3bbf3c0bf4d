"""Retention never wipes the footage it protects (issue 12), on real small filesystems.

Measured before: a foreign 230 MB file on a 300 MB recordings filesystem made retention delete
26 of 26 segments and recording paused anyway. Now a limit that deleting cannot meet deletes
nothing, free space is never made out of a camera's newest `keep_at_least_hours`, and the
alarm says who uses the disk."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.camera.conftest import add_footage, wait_for
from tests.storage.conftest import fill
from vigil.camera.footage_retention import (
    GB,
    FootageRetention,
    disk_state,
    lock_segments,
    run_retention,
)
from vigil.camera.index import camera_segments, recordings_dir
from vigil.camera.recorder import RecorderOptions, RecordingService
from vigil.config import CameraConfig, RecordingConfig
from vigil.maintenance import Scheduler
from vigil.store.db import Database

NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


def cams(**kw: dict) -> list[CameraConfig]:
    return [CameraConfig(name=n, url=f"/x/{n}.mp4", **o) for n, o in kw.items()]


def site_on(fs: Path) -> tuple[Path, Database]:
    data_dir = fs / "var"
    data_dir.mkdir()
    return data_dir, Database(f"sqlite:///{data_dir / 'vigil.db'}")


def free_of(path: Path) -> int:
    return shutil.disk_usage(path).free


def ids(db: Database, camera: str) -> list[int]:
    return [s.id for s in camera_segments(db, camera)]


def test_foreign_file_fills_the_disk_nothing_deleted_alarm_names_it(small_fs, clip: Path) -> None:
    """The reviewer's case: a 230 MB file written onto a 300 MB recordings filesystem with
    `min_free_gb: 0.1` (before: 26 of 26 segments deleted, recording paused anyway)."""
    fs = small_fs("300m")
    data_dir, db = site_on(fs)
    size = clip.stat().st_size
    recent = add_footage(db, data_dir, clip, "door", NOW - timedelta(hours=3), 26, 300)
    old = add_footage(db, data_dir, clip, "door", NOW - timedelta(days=3), 4, 300)
    rec = RecordingConfig(min_free_gb=0.1, retention_interval_s=1e6)
    foreign = fill(fs / "backup.tar", 230_000_000)
    report = run_retention(db, data_dir, cams(door={}), rec, now=NOW)
    # deleting even all footage past the 24 h floor (4 old segments) cannot bring 0.1 GB
    # free, so nothing is deleted
    assert report.deleted_files == 0
    assert sorted(ids(db, "door")) == sorted(recent + old)
    assert all((recordings_dir(data_dir) / s.path).exists() for s in camera_segments(db, "door"))
    held = report.held_back["min_free"]
    assert held["deletable_bytes"] == 4 * size and held["needed_bytes"] > 4 * size
    # who uses the disk, in bytes: the foreign file is "other files"
    space = report.space
    foreign_bytes = foreign.stat().st_blocks * 512
    assert foreign_bytes <= space["other_bytes"] <= foreign_bytes + 30 * 4096 + 65536
    assert space["footage_bytes"] == 30 * size
    assert space["vigil_other"]["database"] > 0
    assert report.alarm.index("other files (not Vigil's) 230.") < report.alarm.index(
        "Vigil's footage "
    )
    assert f"({space['other_bytes']} bytes)" in report.alarm
    assert f"Vigil's footage {30 * size / 1e6:.1f} MB ({30 * size} bytes)" in report.alarm
    assert "under min_free_gb" in report.alarm
    # recording stops writing, and says why (the persisted report)
    state = disk_state(data_dir, rec)
    assert not state.ok and "other files (not Vigil's)" in state.reason
    # the space comes back: the alarm clears, still nothing deleted
    foreign.unlink()
    report = run_retention(db, data_dir, cams(door={}), rec, now=NOW)
    assert report.alarm == "" and report.deleted_files == 0 and report.held_back == {}
    assert disk_state(data_dir, rec).ok
    assert len(ids(db, "door")) == 30


def test_room_is_made_from_footage_past_the_floor_oldest_first(small_fs, clip: Path) -> None:
    fs = small_fs("12m")
    data_dir, db = site_on(fs)
    size = clip.stat().st_size
    old = add_footage(db, data_dir, clip, "door", NOW - timedelta(days=3), 8, 300)
    recent = add_footage(db, data_dir, clip, "door", NOW - timedelta(hours=3), 8, 300)
    fill(fs / "other.bin", free_of(fs) - 1_000_000)
    want = free_of(fs) + 3 * size  # three segments' worth short
    rec = RecordingConfig(min_free_gb=want / GB)
    report = run_retention(db, data_dir, cams(door={}), rec, now=NOW)
    assert report.alarm == "" and report.free_bytes >= want
    n = report.deleted_by_reason["min_free"]
    assert 3 <= n <= 4 and report.deleted_files == n  # block rounding
    assert ids(db, "door") == old[n:] + recent  # the oldest went, the newest 24 h stayed


def test_floor_per_camera_and_age_still_applies(small_fs, clip: Path) -> None:
    fs = small_fs("12m")
    data_dir, db = site_on(fs)
    size = clip.stat().st_size
    a = add_footage(db, data_dir, clip, "a", NOW - timedelta(hours=3), 5, 60)
    b = add_footage(db, data_dir, clip, "b", NOW - timedelta(hours=3), 5, 60)
    add_footage(db, data_dir, clip, "c", NOW - timedelta(hours=8), 4, 60)
    fill(fs / "other.bin", free_of(fs) - 1_000_000)
    # camera c keeps 6 h (its age limit also caps its floor); b keeps only 1 h safe from
    # free-space deletion; a the default 24 h
    cameras = cams(a={}, b={"keep_at_least_hours": 1}, c={"retention_days": 0.25})
    want = free_of(fs) + 4 * size + 2 * size  # c's age deletion frees 4, then 2 short
    report = run_retention(db, data_dir, cameras, RecordingConfig(min_free_gb=want / GB), now=NOW)
    assert report.deleted_by_reason["age"] == 4 and ids(db, "c") == []
    n = report.deleted_by_reason["min_free"]
    assert 2 <= n <= 3 and report.alarm == ""
    assert ids(db, "a") == a  # inside its 24 h: untouched
    assert ids(db, "b") == b[n:]
    usage = {u.camera: u for u in report.cameras}
    assert usage["a"].keep_at_least_hours == 24 and usage["b"].keep_at_least_hours == 1
    assert usage["c"].keep_at_least_hours == 6


def test_quota_cuts_into_the_floor_only_when_it_can_be_met(tmp_path: Path, clip: Path) -> None:
    data_dir = tmp_path / "var"
    data_dir.mkdir()
    db = Database(f"sqlite:///{data_dir / 'vigil.db'}")
    size = clip.stat().st_size
    seg = add_footage(db, data_dir, clip, "a", NOW - timedelta(hours=2), 10, 300)
    # Vigil's own footage over its own quota: the oldest go, newest 24 h or not
    rec = RecordingConfig(disk_quota_gb=(6 * size + size // 2) / GB, min_free_gb=0)
    report = run_retention(db, data_dir, cams(a={}), rec, now=NOW)
    assert report.deleted_by_reason["quota"] == 4 and ids(db, "a") == seg[4:]
    assert report.alarm == ""
    # four are evidence: deleting the two unlocked ones cannot bring footage under the quota,
    # so neither is deleted (before: both were, and the alarm went off anyway)
    lock_segments(
        db, "a", NOW - timedelta(minutes=100), NOW - timedelta(minutes=80),
        until=NOW + timedelta(days=3), reason="case 4", owner="t",
    )  # fmt: skip
    rec = RecordingConfig(disk_quota_gb=(3 * size + size // 2) / GB, min_free_gb=0)
    report = run_retention(db, data_dir, cams(a={}), rec, now=NOW)
    assert report.deleted_files == 0 and ids(db, "a") == seg[4:]
    assert report.held_back["quota"] == {
        "needed_bytes": 6 * size - (3 * size + size // 2),
        "deletable_bytes": 2 * size,
    }
    assert "over the" in report.alarm and "quota" in report.alarm
    assert "so none was deleted" in report.alarm


def test_recording_pauses_without_deleting_and_resumes(small_fs, loop_clip: Path) -> None:
    """A real recorder and scheduler on a 96 MB filesystem: a foreign file takes the space,
    recording pauses with the alarm and nothing is deleted; the file goes, recording resumes."""
    fs = small_fs("96m")
    data_dir, db = site_on(fs)
    cam = CameraConfig(name="gate", url=str(loop_clip), loop=True, segment_seconds=2)
    # min_free 70 MB: above the 64 MiB hard floor, so the alarm is what stops the recorder
    rec = RecordingConfig(min_free_gb=0.07, retention_interval_s=3600)
    retention = FootageRetention(db, data_dir, [cam], rec)
    sched = Scheduler()
    retention.add_to(sched, check_s=0.2)
    opts = RecorderOptions(
        disk_check=retention.disk_state, index_interval_s=0.5, status_interval_s=0.3
    )
    svc = RecordingService([cam], data_dir, db, opts)
    sched.start()
    svc.start()
    try:
        assert wait_for(lambda: sum(s.complete for s in camera_segments(db, "gate")) >= 2, 30)
        foreign = fill(fs / "upload.part", free_of(fs) - 68_500_000)
        assert wait_for(lambda: "recording paused" in (svc.statuses()[0].error or ""), 20)
        assert "other files (not Vigil's)" in svc.statuses()[0].error
        paused = ids(db, "gate")
        last = retention.last_report
        assert last is not None and last.deleted_files == 0
        os.sync()
        assert wait_for(lambda: not svc.statuses()[0].recording, 10)
        n = len(ids(db, "gate"))
        foreign.unlink()
        assert wait_for(retention.disk_ok, 5)  # checked every 0.2 s: cleared at once
        assert wait_for(lambda: len(ids(db, "gate")) > n + 1, 30)
        assert svc.statuses()[0].error == ""
    finally:
        svc.stop()
        sched.stop()
    assert set(paused) <= set(ids(db, "gate"))  # nothing recorded before the pause went
