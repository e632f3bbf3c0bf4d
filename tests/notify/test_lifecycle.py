"""An event's life on MQTT and webhooks: announced ("started"), then completed ("ended"); the
Home Assistant sensors that follow it; names only where the camera recognises faces."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jinja2
import pytest
from sqlalchemy import select

from tests.notify.conftest import Msg, Subscriber, add_person, make_config
from tests.notify.test_webhook import SECRET, Receiver
from vigil.events.store import Routing, create_event, update_event
from vigil.events.watchlists import add_to_watchlist, create_watchlist
from vigil.notify.broker import Mosquitto
from vigil.notify.dispatcher import Dispatcher, pending_count
from vigil.store.db import Database
from vigil.store.models.events import Delivery, EventState

T0 = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
KNOWN = "vigil/Test_Site/events/hall/known_person"
PERSON = "vigil/Test_Site/cameras/hall/person"
HA = "homeassistant/+/vigil_Test_Site/hall_{}/config"


@pytest.fixture
def hook() -> Iterator[Receiver]:
    r = Receiver([])
    yield r
    r.close()


def _announce(db: Database, routing: Routing, person: int, wake: Callable[[], None]) -> str:
    e = create_event(
        db,
        camera="hall",
        kind="known_person",
        start=T0,
        end=T0 + timedelta(seconds=1),
        person_id=person,
        score=0.5,
        routing=routing,
        wake=wake,
    )
    return e.uid


def _complete(
    db: Database, uid: str, data_dir: Path, wake: Callable[[], None] | None, person: int | None
) -> None:
    end = T0 + timedelta(seconds=9)
    update_event(db, uid, end=end, data_dir=data_dir, score=0.7, person_id=person, wake=wake)


def _states(msgs: list[Msg], topic: str) -> list[tuple[str, str]]:
    return [(m.json()["state"], m.json()["end"]) for m in msgs if m.topic == topic]


def _render(template: str, msg: Msg) -> str:
    return jinja2.Environment().from_string(template).render(value_json=msg.json())


def test_started_then_ended_in_order_and_ha_sensors(
    db: Database,
    data_dir: Path,
    broker: Mosquitto,
    hook: Receiver,
    subscribers: Callable[..., Subscriber],
) -> None:
    cfg = make_config(mqtt_port=broker.port, webhooks=[{"url": hook.url, "secret": SECRET}])
    routing = Routing.from_config(cfg)
    ann = add_person(db, "Ann")
    sub = subscribers(broker.port, ["vigil/+/events/#", "vigil/+/cameras/#", "homeassistant/#"])
    d = Dispatcher(db, cfg, poll_s=0.2)
    d.start()
    try:
        uid = _announce(db, routing, ann, d.wake)
        sub.wait_for(lambda ms: len(_states(ms, KNOWN)) == 1)
        # A notification still waiting is built when sent, so it would carry the completion:
        # the webhook's `started` must be out before the event completes.
        deadline = time.monotonic() + 10
        while not hook.requests and time.monotonic() < deadline:
            time.sleep(0.02)
        _complete(db, uid, data_dir, d.wake, ann)
        msgs = sub.wait_for(
            lambda ms: len(_states(ms, KNOWN)) == 2 and len(_states(ms, PERSON)) == 2
        )
        deadline = time.monotonic() + 5
        while pending_count(db) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        d.stop()
    announced, completed = "2026-11-28T08:00:01Z", "2026-11-28T08:00:09Z"
    expected = [("started", announced), ("ended", completed)]
    assert _states(msgs, KNOWN) == expected
    assert _states(msgs, PERSON) == expected
    ended = [m for m in msgs if m.topic == KNOWN][-1].json()
    assert ended["uid"] == uid and ended["score"] == 0.7

    # Webhooks likewise, in order, signed.
    bodies = [json.loads(r["body"]) for r in hook.requests]
    assert all(r["valid"] for r in hook.requests)
    assert [(b["uid"], b["state"], b["end"]) for b in bodies] == [
        (uid, "started", announced),
        (uid, "ended", completed),
    ]
    assert pending_count(db) == 0

    # The HA sensors' state topics, read through their discovery configs.
    configs = {m.topic.split("/")[-2]: m.json() for m in msgs if m.topic.startswith("homeassi")}
    person_cfg, last_cfg = configs["hall_person"], configs["hall_last_person"]
    assert person_cfg["state_topic"] == PERSON
    started = next(m for m in msgs if m.topic == PERSON)
    assert started.json()["kind"] == "known_person"
    assert _render(person_cfg["value_template"], started) == person_cfg["payload_on"] == "ON"
    assert last_cfg["state_topic"] == KNOWN
    for m in (m for m in msgs if m.topic == KNOWN):
        assert m.json()["person"] == {"id": ann, "name": "Ann"}
        assert _render(last_cfg["value_template"], m) == "Ann"
    assert _render(last_cfg["value_template"], Msg(KNOWN, b'{"person":null}', False, 0)) == "None"


def _pending_reviews(db: Database) -> int:
    with db.session() as s:
        q = select(Delivery.id).where(
            Delivery.review_id.is_not(None),
            Delivery.delivered_at.is_(None),
            Delivery.gave_up_at.is_(None),
        )
        return len(list(s.scalars(q)))


def test_outage_between_start_and_end_delivers_the_end(
    db: Database, data_dir: Path, broker: Mosquitto, subscribers: Callable[..., Subscriber]
) -> None:
    cfg = make_config(mqtt_port=broker.port)
    routing = Routing.from_config(cfg)
    ann = add_person(db, "Ann")
    sub = subscribers(broker.port, ["vigil/+/events/#"])
    d = Dispatcher(db, cfg, poll_s=0.2)
    d.start()
    try:
        uid = _announce(db, routing, ann, d.wake)
        sub.wait_for(lambda ms: len(_states(ms, KNOWN)) == 1)
        broker.stop()  # the subscriber's session is kept (persistence on)
        _complete(db, uid, data_dir, d.wake, ann)
        time.sleep(0.5)
        # ended, to the kind's topic and the person topic (the review item's rows aside)
        assert pending_count(db) - _pending_reviews(db) == 2
        broker.start()
        msgs = sub.wait_for(lambda ms: len(_states(ms, KNOWN)) >= 2, timeout=20)
    finally:
        d.stop()
    assert _states(msgs, KNOWN)[:2] == [
        ("started", "2026-11-28T08:00:01Z"),
        ("ended", "2026-11-28T08:00:09Z"),
    ]


def test_no_names_where_recognition_is_off(
    db: Database, broker: Mosquitto, subscribers: Callable[..., Subscriber]
) -> None:
    cfg = make_config(mqtt_port=broker.port, recognise=False)
    ann = add_person(db, "Ann")
    create_watchlist(db, "banned", "alert", confirmations_required=0)
    add_to_watchlist(db, "banned", ann)
    sub = subscribers(broker.port, ["vigil/+/events/#", "homeassistant/sensor/#"])
    d = Dispatcher(db, cfg, poll_s=0.2)
    d.start()
    try:
        _announce(db, Routing.from_config(cfg), ann, d.wake)  # stored before the switch-off
        msgs = sub.wait_for(lambda ms: len(_states(ms, KNOWN)) == 1)
    finally:
        d.stop()
    body = next(m for m in msgs if m.topic == KNOWN)
    assert b"Ann" not in body.payload and b"banned" not in body.payload
    assert body.json()["person"] is None and body.json()["action"] == "alert"
    # No last-known-person sensor: its discovery config is cleared, not published.
    sensors = [m for m in msgs if m.topic.startswith("homeassistant/sensor/")]
    assert sensors and all(m.payload == b"" for m in sensors)


def test_completion_queues_one_ended_row_per_started_target(db: Database, data_dir: Path) -> None:
    routing = Routing(site="s", mqtt_prefix="vigil")
    woke: list[int] = []
    ann = add_person(db, "Ann")
    uid = _announce(db, routing, ann, lambda: None)
    _complete(db, uid, data_dir, lambda: woke.append(1), ann)
    _complete(db, uid, data_dir, lambda: woke.append(1), ann)  # again, the first still waiting
    with db.session() as s:
        own = select(Delivery).where(Delivery.review_id.is_(None))  # not the review items'
        rows = [(r.state, r.target) for r in s.scalars(own.order_by(Delivery.id))]
    topics = ["vigil/s/events/hall/known_person", "vigil/s/cameras/hall/person"]
    assert rows == [(EventState.started, t) for t in topics] + [
        (EventState.ended, t) for t in topics
    ]
    assert woke == [1]
    # An event that was never sent anywhere gets no ended message either.
    quiet = create_event(db, camera="gate", kind="person", start=T0)
    _complete(db, quiet.uid, data_dir, None, None)
    assert pending_count(db) == 4 + 1  # and the review item's new (only `routing` has MQTT)


def test_a_restart_sends_at_once_what_a_killed_process_left_waiting_for_its_puback(
    db: Database, broker: Mosquitto, subscribers: Callable[..., Subscriber]
) -> None:
    """A process killed (kill -9) after handing a publish to its MQTT client but before the
    PUBACK leaves the row waiting MQTT_ACK_TIMEOUT_S (30 s); the next process sends it now."""
    from sqlalchemy import update

    cfg = make_config(mqtt_port=broker.port)
    uid = _announce(db, Routing.from_config(cfg), add_person(db, "Ann"), lambda: None)
    with db.session() as s:  # as the killed process left it: sent once, no PUBACK recorded
        s.execute(
            update(Delivery).values(
                attempts=1, next_attempt_at=datetime.now(UTC) + timedelta(seconds=30)
            )
        )
    sub = subscribers(broker.port, ["vigil/+/events/#"])
    d = Dispatcher(db, cfg, poll_s=0.2)
    t0 = time.monotonic()
    d.start()
    try:
        sub.wait_for(lambda ms: any(m.topic == KNOWN for m in ms), timeout=10)
    finally:
        d.stop()
    assert time.monotonic() - t0 < 10
    assert [m.json()["uid"] for m in sub.messages if m.topic == KNOWN] == [uid]
