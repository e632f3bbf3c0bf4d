"""MQTT with a real Mosquitto: topics and payloads, retained status, HA discovery, outages."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from tests.notify.conftest import Msg, Subscriber, add_person, make_config
from vigil.events.store import Routing, create_event
from vigil.events.watchlists import add_to_watchlist, create_watchlist
from vigil.notify.broker import Mosquitto
from vigil.notify.dispatcher import Dispatcher, pending_count
from vigil.store.db import Database
from vigil.store.models.events import Delivery, DeliveryAttempt

T0 = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)


def _event_uids(msgs: list[Msg]) -> Counter[str]:
    return Counter(m.json()["uid"] for m in msgs if "/events/" in m.topic)


def test_events_status_and_discovery(
    db: Database, broker: Mosquitto, subscribers: Callable[..., Subscriber]
) -> None:
    cfg = make_config(mqtt_port=broker.port)
    routing = Routing.from_config(cfg)
    ann = add_person(db, "Ann")
    create_watchlist(db, "vip", "alert", confirmations_required=0)  # sent at once
    add_to_watchlist(db, "vip", ann)
    sub = subscribers(broker.port, ["vigil/#"])
    d = Dispatcher(db, cfg, poll_s=0.2)
    d.start()
    try:
        assert d.mqtt is not None and d.mqtt.wait_connected(5)
        d.set_camera_status("gate", "online", recording=True)
        motion = create_event(
            db, camera="gate", kind="motion", start=T0, routing=routing, wake=d.wake
        )
        known = create_event(
            db,
            camera="hall",
            kind="known_person",
            start=T0,
            end=T0 + timedelta(seconds=3),
            person_id=ann,
            score=0.61,
            confidence=0.97,
            routing=routing,
            wake=d.wake,
        )
        msgs = sub.wait_for(lambda ms: len(_event_uids(ms)) == 2)
        by_topic = {m.topic: m for m in msgs}
        m = by_topic["vigil/Test_Site/events/gate/motion"].json()
        assert m["uid"] == motion.uid and m["kind"] == "motion" and m["person"] is None
        assert m["start"] == "2026-11-28T08:00:00Z" and m["site"] == "Test Site"
        k = by_topic["vigil/Test_Site/events/hall/known_person"].json()
        assert k["uid"] == known.uid
        assert k["person"] == {"id": ann, "name": "Ann"}
        assert (k["score"], k["confidence"], k["action"]) == (0.61, 0.97, "alert")
        assert k["end"] == "2026-11-28T08:00:03Z"
        assert by_topic["vigil/Test_Site/status"].payload == b"online"
        sub.wait_for(lambda ms: any(x.topic.endswith("cameras/gate/status") for x in ms))

        # A client that connects later gets the retained status and discovery configs.
        late = subscribers(
            broker.port,
            ["vigil/+/cameras/#", "vigil/+/status", "homeassistant/#"],
            client_id="late",
        )
        msgs = late.wait_for(lambda ms: len(ms) >= 8)  # 1 site + 1 camera + 2 x 3 discovery
        by_topic = {x.topic: x for x in msgs}
        status = by_topic["vigil/Test_Site/cameras/gate/status"]
        assert status.retain and status.json() == {"state": "online", "recording": True}
        assert by_topic["vigil/Test_Site/status"].retain
        motion_cfg = by_topic["homeassistant/binary_sensor/vigil_Test_Site/gate_motion/config"]
        assert motion_cfg.retain
        c = motion_cfg.json()
        assert c["state_topic"] == "vigil/Test_Site/events/gate/motion"
        assert c["device_class"] == "motion" and c["unique_id"] == "vigil_Test_Site_gate_motion"
        assert c["availability_topic"] == "vigil/Test_Site/status"
        person_cfg = by_topic["homeassistant/binary_sensor/vigil_Test_Site/hall_person/config"]
        assert person_cfg.json()["state_topic"] == "vigil/Test_Site/cameras/hall/person"
        last = by_topic["homeassistant/sensor/vigil_Test_Site/hall_last_person/config"].json()
        assert last["state_topic"] == "vigil/Test_Site/events/hall/known_person"

        with db.session() as s:
            rows = list(s.scalars(select(Delivery)))
            assert all(r.delivered_at is not None and r.attempts == 1 for r in rows)
            q = select(DeliveryAttempt).join(Delivery).where(Delivery.review_id.is_(None))
            log = list(s.scalars(q))  # the events' own (review items: test_review_mqtt.py)
            assert len(log) == 3 and all(a.ok for a in log)  # motion; known_person twice
    finally:
        d.stop()
    # A clean stop says so on the site status topic (retained).
    sub.wait_for(
        lambda ms: ms[-1].topic == "vigil/Test_Site/status" and ms[-1].payload == b"offline"
    )


def test_broker_down_and_back_loses_nothing(
    db: Database, broker: Mosquitto, subscribers: Callable[..., Subscriber]
) -> None:
    cfg = make_config(mqtt_port=broker.port)
    routing = Routing.from_config(cfg)
    sub = subscribers(broker.port, ["vigil/+/events/#"])
    d = Dispatcher(db, cfg, poll_s=0.2)
    d.start()
    uids: set[str] = set()

    def burst(n: int, dispatcher: Dispatcher | None) -> None:
        for i in range(n):
            e = create_event(
                db,
                camera=["gate", "hall"][i % 2],
                kind="motion",
                start=T0 + timedelta(seconds=len(uids)),
                routing=routing,
                wake=dispatcher.wake if dispatcher else None,
            )
            uids.add(e.uid)

    try:
        burst(5, d)
        sub.wait_for(lambda ms: set(_event_uids(ms)) == uids)
        broker.stop()  # the broker saves the subscriber's session (persistence on)
        burst(400, d)  # dispatcher running, broker down: a backlog over MQTT_MAX_INFLIGHT
        d.stop()
        burst(5, None)  # Vigil down too: only the outbox remembers these
        assert pending_count(db) == 405
        d = Dispatcher(db, cfg, poll_s=0.2)  # a restarted Vigil
        d.start()
        broker.start()  # same port
        got = sub.wait_for(lambda ms: set(_event_uids(ms)) >= uids, timeout=20)
        deadline = time.monotonic() + 5
        while pending_count(db) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        d.stop()
    counts = _event_uids(got)
    assert set(counts) == uids
    assert max(counts.values()) <= 2, "duplicate flood"
    assert pending_count(db) == 0
    with db.session() as s:
        assert all(r.attempts == 1 for r in s.scalars(select(Delivery)))
