"""Health alarms in the event store: raised once, ended with its outbox rows, never a review
item; the reference survives a restart and open alarms are continued, not raised again."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from sqlalchemy import select

from vigil.camera.health import HealthChange
from vigil.config import HealthConfig
from vigil.events.health import HealthAlarms
from vigil.events.store import Routing
from vigil.pipeline.tamper import PictureWatch
from vigil.store.db import Database
from vigil.store.enums import HealthCondition as C
from vigil.store.models.events import Delivery, EventState
from vigil.store.models.review import ReviewItem

T0 = 1_780_000_000.0
MQTT = Routing(site="Test Site", mqtt_prefix="vigil")


def _street(seed: int = 3) -> np.ndarray:
    """A textured picture (random blotches), like a scene with detail everywhere."""
    noise = np.random.default_rng(seed).integers(0, 255, (180, 320, 3), np.uint8)
    return cv2.GaussianBlur(noise, (0, 0), 1.0)


def test_raised_once_ended_with_outbox_rows_and_no_review_item(
    db: Database, tmp_path: Path
) -> None:
    alarms = HealthAlarms(db, tmp_path, lambda: MQTT)
    first = alarms.apply(HealthChange("gate", C.moved, True, T0, {"moved_share": 0.9}))
    again = alarms.apply(HealthChange("gate", C.moved, True, T0 + 5))
    assert first is not None and again is not None and again.uid == first.uid
    assert alarms.open_conditions("gate") == {C.moved} and alarms.open_conditions("hall") == set()
    ended = alarms.apply(HealthChange("gate", C.moved, False, T0 + 60))
    assert ended is not None and ended.end is not None
    assert alarms.apply(HealthChange("gate", C.moved, False, T0 + 70)) is None
    with db.session() as s:
        rows = [(d.state, d.target) for d in s.scalars(select(Delivery).order_by(Delivery.id))]
        assert s.scalar(select(ReviewItem)) is None
    topic = "vigil/Test_Site/events/gate/camera_moved"
    assert rows == [(EventState.started, topic), (EventState.ended, topic)]


def test_a_restart_keeps_the_reference_and_continues_the_open_alarm(
    db: Database, tmp_path: Path
) -> None:
    cfg = HealthConfig(covered_after_s=1, clear_after_s=1)
    watch = PictureWatch("gate", cfg, HealthAlarms(db, tmp_path))
    street, black = _street(), np.zeros((180, 320, 3), np.uint8)
    watch.observe(T0, street)
    assert (tmp_path / "health" / "gate" / "reference.jpg").is_file()
    assert watch.observe(T0 + 1, black) == []  # covered from here ...
    (raised,) = watch.observe(T0 + 2, black)  # ... for covered_after_s: raised
    assert raised.details["before"] and raised.snapshot

    again = PictureWatch("gate", cfg, HealthAlarms(db, tmp_path))  # the service restarted
    assert again.detector.reference is not None and again.detector.active == {C.covered}
    assert again.observe(T0 + 10, black) == [] and again.observe(T0 + 12, black) == []
    assert again.observe(T0 + 13, street) == []
    (ended,) = again.observe(T0 + 14.5, street)
    assert ended.uid == raised.uid and ended.end is not None
    share = again.detector.last.moved_share if again.detector.last else None
    assert share is not None and share < 0.2  # the stored reference still matches the street
