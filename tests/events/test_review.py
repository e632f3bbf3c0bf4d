"""Review items: grouping of a camera's events, severity, best snapshot, per-user reviewed
state, and retention keeping items consistent with the events it deletes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from vigil.config import VigilConfig
from vigil.events.review import close_idle, mark_reviewed, reviewed_by, unmark_reviewed
from vigil.events.store import Routing, create_event, update_event
from vigil.events.watchlists import add_to_watchlist, create_watchlist
from vigil.privacy.data_retention import run_privacy_retention
from vigil.store.db import Database
from vigil.store.models.events import Delivery, Event
from vigil.store.models.faces import Person
from vigil.store.models.review import ReviewItem, ReviewItemEvent, Severity
from vigil.store.models.users import Role, User
from vigil.store.review_items import events_of, recompute

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
JPEG = b"\xff\xd8jpeg\xff\xd9"
ROUTING = Routing(site="Test Site", mqtt_prefix="vigil", review_gap_s=30)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    d = Database(f"sqlite:///{tmp_path / 'vigil.db'}")
    yield d
    d.close()


def _items(db: Database) -> list[ReviewItem]:
    with db.session() as s:
        return list(s.scalars(select(ReviewItem).order_by(ReviewItem.start, ReviewItem.id)))


def _event(db: Database, data_dir: Path, at: float, length: float = 5, **kw: object) -> Event:
    kw.setdefault("kind", "person")
    kw.setdefault("camera", "gate")
    return create_event(
        db,
        start=T0 + timedelta(seconds=at),
        end=T0 + timedelta(seconds=at + length),
        data_dir=data_dir,
        routing=ROUTING,
        **kw,  # type: ignore[arg-type]
    )


def _links(db: Database, item_id: int) -> list[int]:
    with db.session() as s:
        q = select(ReviewItemEvent.event_id).where(ReviewItemEvent.item_id == item_id)
        return sorted(s.scalars(q))


def test_overlapping_events_make_one_item_and_a_gap_two(db: Database, data_dir: Path) -> None:
    a = _event(db, data_dir, 0, 10)
    b = _event(db, data_dir, 5, 20, kind="face", snapshot_jpeg=JPEG)
    c = _event(db, data_dir, 50)  # 20 s after the item's end (30): within the gap
    other = _event(db, data_dir, 1, camera="hall")  # another camera: its own item
    d = _event(db, data_dir, 120)  # 65 s after the end (55): a new item
    gate = [i for i in _items(db) if i.camera == "gate"]
    assert len(gate) == 2 and len(_items(db)) == 3
    first, second = gate
    assert _links(db, first.id) == [a.id, b.id, c.id]
    assert (first.start, first.end) == (T0, T0 + timedelta(seconds=55))
    assert first.objects == {"person": 2, "face": 1}
    assert first.severity is Severity.detection
    assert first.best_event_id == b.id  # the only snapshot
    assert first.closed  # the new item on the same camera closed it
    assert _links(db, second.id) == [d.id] and not second.closed
    assert other.id in _links(db, next(i for i in _items(db) if i.camera == "hall").id)


def test_alerts_known_people_watchlists_restricted_zones(db: Database, data_dir: Path) -> None:
    with db.session() as s:
        staff, thief = Person(name="Staff", created_by="t"), Person(name="Thief", created_by="t")
        s.add_all([staff, thief])
    create_watchlist(db, "staff", "ignore")
    add_to_watchlist(db, "staff", staff.id)
    create_watchlist(db, "banned", "alert")
    add_to_watchlist(db, "banned", thief.id)
    _event(db, data_dir, 0, kind="known_person", person_id=staff.id, camera="a")
    _event(db, data_dir, 0, kind="known_person", person_id=thief.id, camera="b")
    _event(db, data_dir, 0, kind="person", camera="c")
    _event(db, data_dir, 0, kind="zone_change", details={"zone_kind": "restricted"}, camera="c")
    _event(db, data_dir, 0, kind="zone_change", details={"zone_kind": "doorway"}, camera="d")
    _event(db, data_dir, 0, kind="zone_change", details={"zone_kind": "machine"}, camera="e")
    _event(db, data_dir, 0, kind="motion", camera="e")
    by_cam = {i.camera: i for i in _items(db)}
    assert by_cam["a"].severity is Severity.detection  # only on an ignore list
    assert by_cam["b"].severity is Severity.alert
    assert by_cam["c"].severity is Severity.alert  # a person, then an intrusion: alert
    assert by_cam["c"].objects == {"person": 1, "zone_change": 1}
    assert by_cam["d"].severity is Severity.detection
    assert "e" not in by_cam  # machine running/idle and motion are not activities


def test_announced_event_keeps_item_open_until_it_ends(db: Database, data_dir: Path) -> None:
    e = create_event(db, camera="gate", kind="known_person", start=T0, routing=ROUTING)
    late = _event(db, data_dir, 600)  # the known person is still there: joins
    (item,) = _items(db)
    assert item.end is None and item.severity is Severity.alert
    assert close_idle(db, ROUTING, now=T0 + timedelta(hours=1)) == 0  # still going on
    update_event(
        db,
        e.uid,
        end=T0 + timedelta(seconds=700),
        data_dir=data_dir,
        snapshot_jpeg=JPEG,
        score=0.7,
        routing=ROUTING,
    )
    (item,) = _items(db)
    assert item.end == T0 + timedelta(seconds=700) and item.best_event_id == e.id
    assert _links(db, item.id) == [e.id, late.id]
    assert close_idle(db, ROUTING, now=T0 + timedelta(seconds=720)) == 0  # within the gap
    assert close_idle(db, ROUTING, now=T0 + timedelta(seconds=740)) == 1
    with db.session() as s:
        states = [
            d.review_state for d in s.scalars(select(Delivery).where(Delivery.review_id == item.id))
        ]
    assert states == ["new", "update", "update", "end"]  # opened, joined, completed, closed


def test_best_snapshot_is_highest_score(db: Database, data_dir: Path) -> None:
    _event(db, data_dir, 0, snapshot_jpeg=JPEG, kind="face", score=0.2)
    b = _event(db, data_dir, 1, snapshot_jpeg=JPEG, kind="face", score=0.5)
    _event(db, data_dir, 2, snapshot_jpeg=JPEG)
    assert _items(db)[0].best_event_id == b.id


def test_events_joining_an_item_add_up_as_a_full_recompute(db: Database, data_dir: Path) -> None:
    """Each event joins its item incrementally (a burst of n events is O(n), not O(n^2)); the
    item must read exactly as if it were recomputed from all its events."""
    kinds = ["person", "face", "known_person", "vehicle", "face"]
    for i in range(25):
        _event(
            db,
            data_dir,
            at=((i + 3) * 7) % 23,  # out of order: earlier starts join later
            length=1 + i % 4,
            kind=kinds[i % 5],
            snapshot_jpeg=JPEG if i % 3 else None,
            score=None if i % 5 < 2 else 0.3 + (i % 7) / 10,
        )
    [item] = _items(db)
    with db.session() as s:
        stored = s.get(ReviewItem, item.id)
        assert stored is not None
        seen = (stored.start, stored.end, stored.objects, stored.severity, stored.best_event_id)
        recompute(stored, events_of(s, item.id))
        assert seen == (
            stored.start,
            stored.end,
            stored.objects,
            stored.severity,
            stored.best_event_id,
        )
        s.rollback()
    assert sum(item.objects.values()) == 25 and item.severity is Severity.alert


def _user(db: Database, name: str) -> int:
    with db.session() as s:
        u = User(username=name, password_hash="x", role=Role.viewer)
        s.add(u)
        s.flush()
        return u.id


def test_reviewed_is_per_user(db: Database, data_dir: Path) -> None:
    _event(db, data_dir, 0)
    _event(db, data_dir, 100)
    one, two = (i.id for i in _items(db))
    ann, bob = _user(db, "ann"), _user(db, "bob")
    assert mark_reviewed(db, ann, [one, two]) == 2
    assert mark_reviewed(db, ann, [one]) == 0  # idempotent
    assert reviewed_by(db, ann, [one, two]) == {one, two}
    assert reviewed_by(db, bob, [one, two]) == set()
    assert unmark_reviewed(db, ann, one)
    assert not unmark_reviewed(db, ann, one)
    assert reviewed_by(db, ann, [one, two]) == {two}


def _config(data_dir: Path, snapshot_days: int = 30) -> VigilConfig:
    return VigilConfig.model_validate(
        {
            "storage": {"data_dir": str(data_dir)},
            "privacy": {"snapshot_retention_days": snapshot_days},
            "cameras": [{"name": "gate", "url": "a.mp4", "retention_days": 7}],
        }
    )


def test_retention_keeps_items_consistent(db: Database, data_dir: Path) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    old = now - timedelta(days=10)
    a = create_event(db, camera="gate", kind="person", start=old, end=old, routing=ROUTING)
    ann = _user(db, "ann")
    gone_item = _items(db)[0].id
    mark_reviewed(db, ann, [gone_item])
    # an item whose first event is past retention and whose second is not
    edge = now - timedelta(days=7, seconds=10)
    b = create_event(db, camera="gate", kind="known_person", start=edge, end=edge, routing=ROUTING)
    recent = edge + timedelta(seconds=20)
    c = create_event(
        db,
        camera="gate",
        kind="person",
        start=recent,
        end=recent,
        snapshot_jpeg=JPEG,
        data_dir=data_dir,
        routing=ROUTING,
    )
    report = run_privacy_retention(db, _config(data_dir, snapshot_days=1), now=now)
    assert report.events_deleted == 2
    (item,) = _items(db)
    assert gone_item != item.id
    assert _links(db, item.id) == [c.id]
    assert item.severity is Severity.detection  # the known person went with their event
    assert item.objects == {"person": 1} and item.start == recent
    assert item.best_event_id is None  # the snapshot is past its retention: no reference
    with db.session() as s:
        assert s.scalar(select(Delivery).where(Delivery.review_id == gone_item)) is None
        assert s.get(Event, a.id) is None and s.get(Event, b.id) is None
    assert reviewed_by(db, ann, [gone_item]) == set()


def test_migration_groups_existing_events(tmp_path: Path) -> None:
    """0018 puts the events stored before it into closed items (30 s gap), announced nowhere,
    and keeps the delivery log (a batch copy of `deliveries` would have emptied it)."""
    from alembic import command
    from sqlalchemy import text

    from vigil.store.db import alembic_config

    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = Database(url, migrate=False)
    cfg = alembic_config(url)
    with old.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0017_segment_checksums")
    rows = [
        ("a", 0, "person", None),
        ("a", 20, "known_person", "x.jpg"),
        ("a", 300, "person", None),
        ("a", 310, "motion", None),
        ("b", 0, "face", None),
    ]
    with old.engine.begin() as c:
        for i, (cam, at, kind, shot) in enumerate(rows):
            start = (T0 + timedelta(seconds=at)).replace(tzinfo=None)
            c.execute(
                text(
                    'INSERT INTO events (uid, camera, kind, start, "end", snapshot, details, '
                    "created_at) VALUES (:u, :c, :k, :s, :e, :shot, '{}', :s)"
                ),
                {"u": f"u{i}", "c": cam, "k": kind, "s": start, "e": start, "shot": shot},
            )
        c.execute(
            text(
                "INSERT INTO deliveries (event_uid, channel, target, attempts, next_attempt_at, "
                "last_error, created_at) VALUES ('u0', 'mqtt', 't', 1, :t, '', :t)"
            ),
            {"t": T0.replace(tzinfo=None)},
        )
        c.execute(
            text(
                "INSERT INTO delivery_log (delivery_id, at, ok, error, duration_ms) "
                "VALUES (1, :t, 1, '', 1)"
            ),
            {"t": T0.replace(tzinfo=None)},
        )
    old.close()
    db = Database(url)  # migrates to head
    items = _items(db)
    assert [(i.camera, i.start, i.severity, i.objects, i.closed) for i in items] == [
        ("a", T0, Severity.alert, {"person": 1, "known_person": 1}, True),
        ("b", T0, Severity.detection, {"face": 1}, True),
        ("a", T0 + timedelta(seconds=300), Severity.detection, {"person": 1}, True),
    ]
    assert items[0].best_event_id == 2  # the one with a snapshot
    with db.session() as s:
        assert s.scalar(select(Delivery.id).where(Delivery.review_id.is_not(None))) is None
        assert s.scalar(text("SELECT count(*) FROM delivery_log")) == 1
    db.close()
