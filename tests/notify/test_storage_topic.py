"""The storage alarm on MQTT: retained on <prefix>/<site>/storage, set and cleared (issue 12)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.camera.conftest import add_footage
from tests.notify.conftest import Subscriber, make_config
from tests.storage.conftest import make_clip
from vigil.camera.footage_retention import (
    GB,
    lock_segments,
    run_retention,
    storage_status,
    unlock_segments,
)
from vigil.config import RecordingConfig
from vigil.notify.broker import Mosquitto
from vigil.notify.dispatcher import Dispatcher
from vigil.store.db import Database

TOPIC = "vigil/Test_Site/storage"


def test_storage_alarm_is_retained_and_cleared(
    db: Database, broker: Mosquitto, subscribers: Callable[..., Subscriber], tmp_path: Path
) -> None:
    data_dir = tmp_path / "var"
    clip = make_clip(tmp_path / "seg.mp4", 1)
    size = clip.stat().st_size
    now = datetime.now(UTC)
    add_footage(db, data_dir, clip, "gate", now - timedelta(hours=1), 4, 60)
    lock_segments(
        db, "gate", now - timedelta(hours=2), now, until=now + timedelta(days=1),
        reason="case 5", owner="t",
    )  # fmt: skip
    cfg = make_config(mqtt_port=broker.port)
    rec = RecordingConfig(disk_quota_gb=2 * size / GB, min_free_gb=0)
    d = Dispatcher(db, cfg, poll_s=0.2)
    d.start()
    try:
        assert d.mqtt is not None and d.mqtt.wait_connected(5)
        report = run_retention(db, data_dir, cfg.cameras, rec)
        assert report.alarm
        d.set_storage_status(storage_status(data_dir, rec, alarm=report.alarm))
        # published asynchronously: once another client has seen it, the broker retains it
        subscribers(broker.port, [TOPIC], client_id="watcher").wait_for(lambda ms: len(ms) == 1)
        # a subscriber that comes later still gets it: retained
        late = subscribers(broker.port, [TOPIC], client_id="late")
        (msg,) = late.wait_for(lambda ms: len(ms) == 1)
        body = msg.json()
        assert msg.retain and body["alarm"] is True and body["recording_paused"] is True
        assert "quota" in body["reason"] and body["footage_bytes"] == 4 * size
        assert {"other_bytes", "vigil_other_bytes", "free_bytes"} <= set(body)
        # the evidence hold ends: the next pass meets the quota and the alarm clears
        unlock_segments(db, "gate", now - timedelta(hours=2), now)
        report = run_retention(db, data_dir, cfg.cameras, rec)
        assert report.alarm == ""
        d.set_storage_status(storage_status(data_dir, rec, alarm=report.alarm))
        msgs = late.wait_for(lambda ms: len(ms) == 2)
        assert msgs[-1].json()["alarm"] is False and msgs[-1].json()["reason"] == ""
    finally:
        d.stop()
