"""Changes to events already published reach the hub: completion of an announced event, the
identity cleared when the person is deleted at the site, the event deleted at the site.
Real nats-servers (site north a leaf node of the hub), real SQLite databases."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select

from vigil.events.store import create_event, update_event
from vigil.hub.ingest import HubConsumer, store_batch
from vigil.store.db import Database
from vigil.store.models import Event, HubEvent, HubEventTombstone, Person, SyncTombstone
from vigil.sync.edge import EdgePublisher
from vigil.sync.server import find_binary

from .test_sync import Net, await_for, net  # noqa: F401  (fixture)

JPEG = b"\xff\xd8" + b"p" * 2_000 + b"\xff\xd9"


def _hub_event(db: Database, uid: str) -> HubEvent | None:
    with db.session() as s:
        return s.scalar(select(HubEvent).where(HubEvent.uid == uid))


@pytest.mark.skipif(find_binary() is None, reason="nats-server binary missing")
def test_updates_and_deletions_reach_the_hub(net: Net) -> None:  # noqa: F811
    site, db = "north", net.dbs["north"]
    data_dir = net.root / "north"
    thumbs = net.root / "thumbs"
    with db.session() as s:
        person = Person(name="Ann", created_by="test", hub_uid="hp-ann")
        s.add(person)
        s.flush()
        person_id = person.id
    start = datetime.now(UTC)
    announced = create_event(
        db, camera="gate", kind="known_person", start=start, person_id=person_id
    )
    net.make_events(site, 5)  # others, untouched: still exactly once

    async def scenario() -> None:
        pub = EdgePublisher(db, site, net.edges[site].url, data_dir=data_dir)
        await pub.connect()
        hub = HubConsumer(net.hub_db, net.hub.access, [site], thumbs_dir=thumbs)
        task = asyncio.create_task(hub.run())
        try:
            await pub.publish_pending()
            await await_for(lambda: net.hub_count() == 6, 15)
            first = _hub_event(net.hub_db, announced.uid)
            assert first is not None and first.end is None and first.person_uid == "hp-ann"

            # 1. the track ends: the announced event is completed under the same uid
            end = start + timedelta(seconds=4)
            update_event(db, announced.uid, end=end, data_dir=data_dir, snapshot_jpeg=JPEG)
            await pub.publish_pending()
            await await_for(lambda: (_hub_event(net.hub_db, announced.uid) or first).end, 15)
            done = _hub_event(net.hub_db, announced.uid)
            assert done is not None and done.end == end and done.version > first.version
            await await_for(lambda: (_hub_event(net.hub_db, announced.uid) or done).thumbnail, 15)
            thumb = thumbs / str(_hub_event(net.hub_db, announced.uid).thumbnail)  # type: ignore[union-attr]
            assert thumb.read_bytes() == JPEG
            assert net.hub_count() == 6

            # 2. the person is deleted at the site (FK SET NULL): the hub forgets who it was
            with db.session() as s:
                s.delete(s.get(Person, person_id))
            await pub.publish_pending()
            await await_for(
                lambda: (_hub_event(net.hub_db, announced.uid) or done).person_uid is None, 15
            )
            assert net.hub_count() == 6

            # 3. retention deletes the event at the site: a tombstone deletes the hub's copy
            with db.session() as s:
                s.execute(delete(Event).where(Event.uid == announced.uid))
            assert (await pub.backlog()).unpublished_events == 1
            await pub.publish_pending()
            await await_for(lambda: _hub_event(net.hub_db, announced.uid) is None, 15)
            assert not thumb.exists()
            with net.hub_db.session() as s:
                assert s.get(HubEventTombstone, (site, announced.uid)) is not None
            with db.session() as s:  # published: the site forgets the tombstone
                assert s.scalars(select(SyncTombstone)).first() is None
            b = await pub.backlog()
            assert b.unpublished_events == 0

            # the others, exactly once and in order per camera
            net.counter.pop(("north", "x"), None)
            with net.hub_db.session() as s:
                rows = list(s.scalars(select(HubEvent).order_by(HubEvent.id)))
            assert len(rows) == 5 and len({r.uid for r in rows}) == 5
            assert [r.details["n"] for r in rows if r.camera == "gate"] == [1, 2, 3]
        finally:
            hub.stop()
            await asyncio.wait_for(task, 10)
            await pub.close()

    asyncio.run(scenario())


def _msg(uid: str, version: int, *, deleted: bool = False, end: str | None = None) -> Any:
    body: dict[str, Any] = {"site": "s1", "uid": uid, "camera": "c1", "version": version}
    if deleted:
        body["deleted"] = True
    else:
        body |= {
            "edge_id": 1,
            "kind": "person",
            "start": "2026-01-01T00:00:00+00:00",
            "end": end,
        }
    return ("vigil.s1.events.c1", json.dumps(body).encode(), {})


def check_order_safety(db: Database) -> None:
    """Copies applied out of order or twice: the newest wins; a tombstone stays final."""
    assert store_batch(db, "s1", [_msg("a", 1)]).events == 1
    r = store_batch(db, "s1", [_msg("a", 3, end="2026-01-01T00:00:09+00:00"), _msg("a", 2)])
    assert (r.updates, r.duplicates) == (1, 1)
    r = store_batch(db, "s1", [_msg("a", 2, end="2026-01-01T00:00:05+00:00"), _msg("a", 1)])
    assert (r.events, r.updates, r.duplicates) == (0, 0, 2)
    with db.session() as s:
        a = s.scalar(select(HubEvent).where(HubEvent.uid == "a"))
        assert a is not None and a.version == 3 and a.end is not None and a.end.second == 9
    # another site cannot overwrite or delete it
    foreign = ("vigil.s2.events.c1", _msg("a", 9, deleted=True)[1].replace(b"s1", b"s2"), {})
    assert store_batch(db, "s2", [foreign]).deleted == 0
    assert store_batch(db, "s1", [_msg("a", 4, deleted=True)]).deleted == 1
    r = store_batch(db, "s1", [_msg("a", 3), _msg("a", 1)])  # redelivered after the delete
    assert (r.events, r.updates) == (0, 0)
    with db.session() as s:
        assert s.scalar(select(HubEvent).where(HubEvent.uid == "a")) is None


def test_hub_applies_newest_copy_only(tmp_path: Path) -> None:
    check_order_safety(Database(f"sqlite:///{tmp_path / 'hub.db'}"))
