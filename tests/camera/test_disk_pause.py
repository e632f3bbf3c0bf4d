"""When retention cannot free the disk, recording pauses with the reason, then resumes."""

from __future__ import annotations

from pathlib import Path

from tests.camera.conftest import wait_for
from vigil.camera.footage_retention import DiskState
from vigil.camera.index import camera_segments
from vigil.camera.recorder import RecorderOptions, RecordingService
from vigil.config import CameraConfig
from vigil.store.db import Database


def test_recording_pauses_while_the_disk_is_past_its_limits(
    h264_file: Path, data_dir: Path
) -> None:
    db = Database(f"sqlite:///{data_dir / 'vigil.db'}")
    disk = {"state": DiskState(False, 0, "disk quota reached and every segment is locked")}
    options = RecorderOptions(
        disk_check=lambda: disk["state"],
        backoff_initial_s=0.2,
        backoff_max_s=0.5,
        status_interval_s=0.2,
    )
    cam = CameraConfig(name="lobby", url=str(h264_file), loop=True, segment_seconds=2)
    with RecordingService([cam], data_dir, db, options) as service:
        assert wait_for(lambda: "recording paused" in (service.statuses()[0].error or ""), 10)
        assert "every segment is locked" in service.statuses()[0].error
        assert camera_segments(db, "lobby") == []
        disk["state"] = DiskState(True, 10**9)
        assert wait_for(lambda: len(camera_segments(db, "lobby")) >= 1, 20)
