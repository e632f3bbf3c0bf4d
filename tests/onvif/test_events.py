"""A camera's ONVIF motion events become Vigil events: the poller subscribes to the simulated
camera's pull point, a motion start opens a `motion` event, its stop completes it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from tests.onvif.conftest import site_yaml
from vigil.bench.onvif_camera import SimulatedCamera
from vigil.config import VigilConfig
from vigil.onvif.device import Notification
from vigil.onvif.events import OnvifEvents
from vigil.store.db import Database
from vigil.store.models.events import Event, EventKind


def until(check: Callable[[], object], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.fixture
def site(tmp_path: Path, camera: SimulatedCamera) -> Iterator[tuple[VigilConfig, Database]]:
    cfg = VigilConfig.model_validate(
        yaml.safe_load(site_yaml(tmp_path / "var", camera, events=True))
    )
    db = Database(cfg.storage.resolved_database_url())
    yield cfg, db
    db.close()


def events(db: Database) -> list[Event]:
    with db.session() as s:
        return list(s.query(Event).order_by(Event.start))


def test_motion_from_the_pull_point_becomes_an_event(
    site: tuple[VigilConfig, Database], camera: SimulatedCamera, tmp_path: Path
) -> None:
    cfg, db = site
    before = camera.subscriptions
    poller = OnvifEvents(cfg.cameras[0], db, tmp_path)
    poller.start()
    try:
        until(lambda: camera.subscriptions > before)
        camera.motion(True)
        until(lambda: events(db))
        [event] = events(db)
        assert event.camera == "yard" and event.kind is EventKind.motion and event.end is None
        assert event.details["source"] == "onvif"
        assert event.details["topic"] == "RuleEngine/CellMotionDetector/Motion"
        assert event.details["Rule"] == "MyMotionDetectorRule"
        camera.motion(False)
        until(lambda: events(db)[0].end is not None)
        assert len(events(db)) == 1 and not poller.open
    finally:
        poller.stop()
    assert camera.subscriptions == before  # unsubscribed on stop
    assert poller.last_error is None


def test_only_motion_and_rules_count(site: tuple[VigilConfig, Database], tmp_path: Path) -> None:
    cfg, db = site
    poller = OnvifEvents(cfg.cameras[0], db, tmp_path)
    now = datetime.now(UTC)

    def note(topic: str, **data: str) -> Notification:
        return Notification(topic, now, "Changed", {"Source": "1"}, data)

    touched = poller.handle(
        [
            note("Device/Trigger/DigitalInput", LogicalState="true"),  # not motion
            note("VideoSource/MotionAlarm", State="false"),  # a stop with nothing open
            note("RuleEngine/LineDetector/Crossed", ObjectId="7"),  # no on/off state
            note("VideoSource/MotionAlarm", State="true"),
            note("VideoSource/MotionAlarm", State="true"),  # still the same motion
        ]
    )
    assert len(touched) == 1 and len(events(db)) == 1
    poller.close_open()  # what stopping does: nothing left open
    assert events(db)[0].end is not None


def test_a_refused_login_is_reported_and_retried(
    site: tuple[VigilConfig, Database], camera: SimulatedCamera, tmp_path: Path
) -> None:
    cfg, db = site
    cam = cfg.cameras[0]
    assert cam.onvif is not None
    wrong = cam.model_copy(update={"onvif": cam.onvif.model_copy(update={"password": "x"})})
    refused = camera.refused
    poller = OnvifEvents(wrong, db, tmp_path)
    poller.start()
    try:
        until(lambda: camera.refused >= refused + 2)  # tried again after retry_s
    finally:
        poller.stop()
    assert poller.last_error is not None and "refused" in poller.last_error
