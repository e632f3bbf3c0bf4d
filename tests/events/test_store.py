"""The event store: idempotent creation with outbox rows, filters and paging, watchlists."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import get_args

import pytest
from sqlalchemy import select

from tests.notify.conftest import add_person, make_config
from vigil.config import EventKindName
from vigil.errors import InputError, NotFoundError
from vigil.events.store import (
    EventFilter,
    Routing,
    create_event,
    get_event,
    list_events,
    new_uid,
    store_draft,
)
from vigil.events.watchlists import (
    actions_for,
    add_to_watchlist,
    create_watchlist,
    delete_watchlist,
    effective_action,
    list_watchlists,
    remove_from_watchlist,
    update_watchlist,
    watchlist_members,
)
from vigil.store.db import Database
from vigil.store.models.events import Channel, Delivery, Event, EventKind, WatchAction
from vigil.store.models.faces import Person

T0 = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
HOOK = {"url": "http://127.0.0.1:9/hook", "secret": "s" * 16}


def _deliveries(db: Database) -> list[Delivery]:
    """The events' own outbox rows (review items' rows: tests/notify/test_review_mqtt.py)."""
    with db.session() as s:
        q = select(Delivery).where(Delivery.review_id.is_(None))
        return list(s.scalars(q.order_by(Delivery.id)))


def test_uids_are_uuid7_and_sort_by_time() -> None:
    a = new_uid()
    b = new_uid()
    assert uuid.UUID(a).version == 7
    assert len({new_uid() for _ in range(1000)}) == 1000
    assert a[:8] <= b[:8]


def test_config_kinds_match_event_kinds() -> None:
    assert set(get_args(EventKindName)) == {k.value for k in EventKind}


def test_create_is_idempotent_and_writes_outbox_and_snapshot(db: Database, data_dir: Path) -> None:
    routing = Routing.from_config(make_config(mqtt_port=1883, webhooks=[HOOK]))
    woke: list[int] = []
    e = create_event(
        db,
        camera="gate",
        kind="person",
        start=T0,
        end=T0 + timedelta(seconds=4),
        snapshot_jpeg=b"\xff\xd8jpeg\xff\xd9",
        data_dir=data_dir,
        box_path=[[0, 1, 2, 3, 4], [0.5, 2, 3, 4, 5]],
        details={"track": 3},
        routing=routing,
        wake=lambda: woke.append(1),
    )
    assert woke == [1]
    assert e.snapshot == f"snapshots/gate/2026-11-28/{e.uid}.jpg"
    assert (data_dir / e.snapshot).read_bytes() == b"\xff\xd8jpeg\xff\xd9"
    again = create_event(db, camera="gate", kind="person", start=T0, uid=e.uid, routing=routing)
    assert again.id == e.id
    rows = _deliveries(db)
    assert [(r.channel, r.target) for r in rows] == [
        (Channel.mqtt, "vigil/Test_Site/events/gate/person"),
        (Channel.mqtt, "vigil/Test_Site/cameras/gate/person"),  # any person kind: HA's sensor
        (Channel.webhook, HOOK["url"]),
    ]
    stored = get_event(db, e.uid)
    assert stored is not None and stored.box_path == [[0, 1, 2, 3, 4], [0.5, 2, 3, 4, 5]]
    assert stored.start == T0 and stored.details == {"track": 3}
    with pytest.raises(InputError):
        create_event(db, camera="gate", kind="person", start=T0.replace(tzinfo=None))


def test_webhook_kinds_filter() -> None:
    routing = Routing.from_config(make_config(webhooks=[{**HOOK, "kinds": ["known_person"]}]))
    assert routing.targets("gate", "motion") == []
    assert routing.targets("gate", "known_person") == [(Channel.webhook, HOOK["url"])]


def test_list_events_filters_and_paging(db: Database) -> None:
    ann = add_person(db, "Ann")
    kinds = ["motion", "person", "known_person"]
    made = []
    for i in range(30):
        made.append(
            create_event(
                db,
                camera=["gate", "hall"][i % 2],
                kind=kinds[i % 3],
                start=T0 + timedelta(minutes=i // 2),  # pairs share a start: id breaks ties
                person_id=ann if kinds[i % 3] == "known_person" else None,
                zone="door" if i < 6 else None,
            )
        )
    newest_first = sorted(made, key=lambda e: (e.start, e.id), reverse=True)

    seen, cursor, pages = [], None, 0
    while True:
        page = list_events(db, limit=7, cursor=cursor)
        seen += page.events
        pages += 1
        if page.next_cursor is None:
            break
        if pages == 2:  # a newer event arriving mid-way does not shift later pages
            create_event(db, camera="gate", kind="motion", start=T0 + timedelta(hours=5))
        cursor = page.next_cursor
    assert [e.uid for e in seen] == [e.uid for e in newest_first]
    assert pages == 5

    def uids(**kw: object) -> set[str]:
        return {e.uid for e in list_events(db, EventFilter(**kw), limit=1000).events}

    assert uids(camera="hall") == {e.uid for e in made if e.camera == "hall"}
    assert uids(kinds=["known_person"]) == {e.uid for e in made if e.kind == "known_person"}
    assert uids(person_id=ann) == uids(kinds=["known_person"])
    assert uids(zone="door") == {e.uid for e in made[:6]}
    window = uids(since=T0 + timedelta(minutes=3), until=T0 + timedelta(minutes=5))
    assert window == {e.uid for e in made if 6 <= made.index(e) < 10}
    assert uids(camera="gate", kinds=["motion", "person"], until=T0 + timedelta(minutes=1)) == {
        made[0].uid
    }
    with pytest.raises(InputError):
        list_events(db, cursor="nonsense")


def test_watchlists_and_actions(db: Database) -> None:
    ann, bob = add_person(db, "Ann"), add_person(db, "Bob")
    create_watchlist(db, "staff", "ignore")
    create_watchlist(db, "banned", WatchAction.alert, notes="site ban")
    with pytest.raises(InputError):
        create_watchlist(db, "staff", "notify")
    add_to_watchlist(db, "staff", ann)
    add_to_watchlist(db, "staff", ann)  # idempotent
    add_to_watchlist(db, "staff", bob)
    add_to_watchlist(db, "banned", bob)
    assert watchlist_members(db, "staff") == sorted([ann, bob])
    assert actions_for(db, ann) == {"staff": WatchAction.ignore}
    assert effective_action(actions_for(db, bob).values()) is WatchAction.alert
    assert effective_action([]) is WatchAction.notify
    with pytest.raises(NotFoundError):
        add_to_watchlist(db, "nope", ann)
    with pytest.raises(NotFoundError):
        add_to_watchlist(db, "staff", 999)

    routing = Routing(site="s", mqtt_prefix="vigil")
    ignored = create_event(
        db, camera="gate", kind="known_person", start=T0, person_id=ann, routing=routing
    )
    alerted = create_event(
        db, camera="gate", kind="known_person", start=T0, person_id=bob, routing=routing
    )
    assert ignored.details == {"watchlists": ["staff"], "action": "ignore"}
    assert alerted.details["action"] == "alert"
    assert {d.event_uid for d in _deliveries(db)} == {alerted.uid}  # ignore: stored, not sent

    update_watchlist(db, "staff", action="notify", new_name="employees")
    assert [w.name for w in list_watchlists(db)] == ["banned", "employees"]
    assert actions_for(db, ann) == {"employees": WatchAction.notify}
    assert remove_from_watchlist(db, "employees", ann) is True
    assert remove_from_watchlist(db, "employees", ann) is False

    # Deleting a person keeps their events (person unset) and drops their memberships.
    with db.session() as s:
        s.delete(s.get(Person, bob))
    stored = get_event(db, alerted.uid)
    assert stored is not None and stored.person_id is None
    assert watchlist_members(db, "banned") == []
    delete_watchlist(db, "banned")
    with pytest.raises(NotFoundError):
        watchlist_members(db, "banned")


def test_deleting_an_event_drops_its_outbox_rows(db: Database) -> None:
    e = create_event(
        db, camera="gate", kind="motion", start=T0, routing=Routing(site="s", mqtt_prefix="vigil")
    )
    assert len(_deliveries(db)) == 1
    with db.session() as s:
        s.delete(s.scalar(select(Event).where(Event.uid == e.uid)))
    assert _deliveries(db) == []


def test_analyzer_drafts_are_stored(db: Database, data_dir: Path) -> None:
    from vigil.pipeline.analyzer import EventDraft

    start = T0.timestamp()
    draft = EventDraft(
        camera="gate",
        kind="face",
        start=start,
        end=start + 2,
        track_id=7,
        box_path=[(start, (10, 20, 30, 40)), (start + 0.5, (12, 20, 30, 40))],
        snapshot_jpeg=b"\xff\xd8x\xff\xd9",
        score=0.2,
        face_quality=55.0,
    )
    store_draft(db, draft, data_dir=data_dir, routing=Routing(site="s", mqtt_prefix="vigil"))
    (e,) = list_events(db).events
    assert (e.camera, e.kind, e.start, e.end) == ("gate", "face", T0, T0 + timedelta(seconds=2))
    assert e.box_path == [[0, 10, 20, 30, 40], [0.5, 12, 20, 30, 40]]
    assert e.details == {"track": 7, "face_quality": 55.0} and e.person_id is None
    assert (data_dir / str(e.snapshot)).is_file()
    assert [d.target for d in _deliveries(db)] == [
        "vigil/s/events/gate/face",
        "vigil/s/cameras/gate/person",
    ]
