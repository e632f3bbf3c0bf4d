"""Review items on MQTT through a real Mosquitto broker: new, update, end; never a name."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.notify.conftest import Subscriber, add_person, make_config
from vigil.events.review import close_idle
from vigil.events.store import Routing, create_event, update_event
from vigil.notify.broker import Mosquitto
from vigil.notify.dispatcher import Dispatcher
from vigil.store.db import Database

T0 = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
TOPIC = "vigil/Test_Site/reviews"


def test_item_new_update_end_delivered(
    db: Database, data_dir: Path, broker: Mosquitto, subscribers: Callable[..., Subscriber]
) -> None:
    cfg = make_config(mqtt_port=broker.port)
    routing = Routing.from_config(cfg)
    ann = add_person(db, "Ann")
    sub = subscribers(broker.port, ["vigil/+/reviews"])
    d = Dispatcher(db, cfg, poll_s=0.2)
    d.start()
    try:
        person = create_event(
            db,
            camera="gate",
            kind="person",
            start=T0,
            end=T0 + timedelta(seconds=3),
            routing=routing,
            wake=d.wake,
        )
        sub.wait_for(lambda ms: len(ms) == 1)
        known = create_event(
            db,
            camera="gate",
            kind="known_person",
            start=T0 + timedelta(seconds=10),
            person_id=ann,
            score=0.7,
            routing=routing,
            wake=d.wake,
        )
        sub.wait_for(lambda ms: len(ms) == 2)
        end = T0 + timedelta(seconds=20)
        update_event(db, known.uid, end=end, data_dir=data_dir, routing=routing, wake=d.wake)
        sub.wait_for(lambda ms: len(ms) == 3)
        assert close_idle(db, routing, now=end + timedelta(seconds=31)) == 1
        d.wake()
        msgs = sub.wait_for(lambda ms: len(ms) == 4)
    finally:
        d.stop()
    bodies = [m.json() for m in msgs]
    assert all(m.topic == TOPIC for m in msgs)
    assert [b["state"] for b in bodies] == ["new", "update", "update", "end"]
    assert len({b["id"] for b in bodies}) == 1
    first, joined, completed, ended = bodies
    assert first["severity"] == "detection" and first["objects"] == {"person": 1}
    assert first["camera"] == "gate" and first["site"] == "Test Site" and first["active"]
    assert joined["severity"] == "alert" and joined["end"] is None  # Ann is still there
    assert joined["objects"] == {"person": 1, "known_person": 1}
    assert completed["end"] == "2026-11-28T08:00:20Z"
    assert ended["start"] == "2026-11-28T08:00:00Z" and not ended["active"]
    assert all(b"Ann" not in m.payload for m in msgs)  # names only on the event topics
    assert person.uid  # the item's announcements rode its events' outbox rows
