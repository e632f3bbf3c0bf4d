"""A tamper alarm end to end: generated footage through the live analysis path, the alarm
stored as an event (after and before pictures), and on a real MQTT broker raised then ended."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.notify.conftest import Subscriber, make_config
from vigil.config import CameraConfig, HealthConfig
from vigil.demo.tamper import tamper_clip
from vigil.events.health import HealthAlarms
from vigil.events.store import Routing, get_event
from vigil.faces.calibration import Calibration
from vigil.faces.engine import FaceEngine
from vigil.faces.gallery import Gallery
from vigil.notify.broker import Mosquitto
from vigil.notify.dispatcher import Dispatcher
from vigil.pipeline.service import AnalysisService
from vigil.store.db import Database

TOPIC = "vigil/Test_Site/events/gate/camera_covered"
# the street, then the lens covered for 2 s, then the street again (played in real time)
SPANS = ((0.0, 1.6, "normal"), (1.6, 3.6, "covered"), (3.6, 5.2, "normal"))


def _mean(path: Path) -> float:
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    assert image is not None, path
    return float(np.mean(image))


def test_a_covered_lens_is_an_event_with_before_and_after_on_mqtt(
    db: Database,
    broker: Mosquitto,
    subscribers: Callable[..., Subscriber],
    engine: FaceEngine,
    vtest_path: Path,
    tmp_path: Path,
) -> None:
    clip = tamper_clip(tmp_path / "covered.mp4", vtest_path, SPANS)
    data_dir = tmp_path / "var"
    cfg = make_config(mqtt_port=broker.port)
    sub = subscribers(broker.port, [TOPIC])
    d = Dispatcher(db, cfg, poll_s=0.2)
    d.start()
    alarms = HealthAlarms(db, data_dir, lambda: Routing.from_config(cfg), d.wake)
    camera = CameraConfig.model_validate(
        {
            "name": "gate",
            "url": str(clip.path),
            "record": False,
            "health": {"covered_after_s": 0.8, "clear_after_s": 0.8},
        }
    )
    service = AnalysisService(
        [camera],
        engine,
        Gallery(db, engine.model_name),
        Calibration.default(engine.model_name),
        sink=lambda draft: None,
        health=alarms,
        health_of=lambda cam: cam.health.over(HealthConfig()),
    )
    service.start()
    try:
        msgs = sub.wait_for(lambda ms: len(ms) >= 2, timeout=20)
    finally:
        service.stop()
        d.stop()
    started, ended = (m.json() for m in msgs[:2])
    assert (started["state"], ended["state"]) == ("started", "ended")
    assert started["uid"] == ended["uid"] and started["kind"] == "camera_covered"
    assert started["end"] is None and ended["end"] is not None
    assert started["details"]["condition"] == "covered"
    assert started["details"]["measures"]["std"] < 6
    event = get_event(db, started["uid"])
    assert event is not None and event.end is not None
    # the clip's covered span lasted 2 s: so does the event, within a frame or two
    assert 1.2 <= (event.end - event.start).total_seconds() <= 3.2
    # after: the frame that raised it (black); before: the kept reference (the street)
    assert event.snapshot and _mean(data_dir / event.snapshot) < 20
    assert _mean(data_dir / event.details["before"]) > 80
    state = alarms.state("gate")
    assert state.healthy and state.reference and state.measures["std"] > 20


@pytest.fixture
def vtest_path(testdata: Path) -> Path:
    path = testdata / "video" / "vtest.avi"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    return path
