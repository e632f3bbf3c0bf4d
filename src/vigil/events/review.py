"""Review items: a camera's overlapping events grouped into one activity to review.

The contract:
- every reviewable event (not motion, not a machine zone's running/idle) is in exactly one
  item of its camera; it joins the camera's open item when it starts at most `gap_s` after
  that item's end (an item whose event is still going on has no end and takes every event),
  otherwise it opens a new item and the camera's previous one is closed;
- an item is an `alert` when any of its events is alert-worthy, else a `detection`; its
  objects are event kinds with counts; its best snapshot is a reference to the event with a
  snapshot and the highest score, read from that event (so it never outlives the event's
  snapshot): `vigil.store.review_items.recompute`, the one rule;
- these functions run inside the event store's transaction (`events.store`), so items never
  disagree with events, and queue the item's MQTT announcements (new, update, end) in the same
  outbox (`Delivery.review_id`), one row per change;
- reviewed is per user (`mark_reviewed`, `unmark_reviewed`, `reviewed_by`); `list_items` pages
  newest first like the events list;
- retention calls `store.review_items.detach_events` before it deletes events and
  `refresh_events` after it clears snapshots: an item left empty is deleted with its outbox
  rows, the others are recomputed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from vigil.errors import InputError, NotFoundError
from vigil.events.push_targets import push_targets
from vigil.store.base import utcnow
from vigil.store.db import Database, rowcount
from vigil.store.models.events import Channel, Delivery, Event
from vigil.store.models.review import (
    ReviewItem,
    ReviewItemEvent,
    ReviewMark,
    ReviewState,
    Severity,
)
from vigil.store.paging import newest_first, page
from vigil.store.review_items import add_to, events_of, recompute, reviewable
from vigil.topics import reviews_topic

if TYPE_CHECKING:
    from vigil.events.store import Routing

DEFAULT_GAP_S = 30.0


def _announce(
    s: Session, item: ReviewItem, state: ReviewState, event_uid: str, routing: Routing
) -> bool:
    """Queue an announcement of the item; False when there is nowhere to send it. Every
    change gets its own row: skipping one while another waits would race the dispatcher,
    which may have built that body already. Phones that asked for review items hear of a new
    one only."""
    targets: list[tuple[Channel, str]] = []
    if routing.mqtt_prefix is not None:
        targets.append((Channel.mqtt, reviews_topic(routing.mqtt_prefix, routing.site)))
    if routing.push and state is ReviewState.new:
        targets += [(Channel.push, t) for t in push_targets(s, item.camera, reviews=True)]
    for channel, target in targets:
        s.add(
            Delivery(
                event_uid=event_uid,
                channel=channel,
                target=target,
                review_id=item.id,
                review_state=state.value,
            )
        )
    return bool(targets)


def _close(s: Session, item: ReviewItem, routing: Routing) -> None:
    item.closed = True
    item.updated_at = utcnow()
    last = s.scalar(
        select(Event.uid)
        .join(ReviewItemEvent, ReviewItemEvent.event_id == Event.id)
        .where(ReviewItemEvent.item_id == item.id)
        .order_by(Event.id.desc())
        .limit(1)
    )
    if last is not None:
        _announce(s, item, ReviewState.end, last, routing)


def place_event(s: Session, event: Event, routing: Routing) -> ReviewItem | None:
    """Put a just-stored (flushed) event into its camera's open item, or a new one."""
    if not reviewable(event.kind.value, event.details or {}):
        return None
    gap = timedelta(seconds=routing.review_gap_s)
    open_items = list(
        s.scalars(
            select(ReviewItem)
            .where(ReviewItem.camera == event.camera, ReviewItem.closed.is_(False))
            .order_by(ReviewItem.start.desc(), ReviewItem.id.desc())
        )
    )
    item = open_items[0] if open_items else None
    if item is not None and item.end is not None and event.start > item.end + gap:
        item = None
    if item is None:
        for old in open_items:  # a new activity on this camera: the previous one is over
            _close(s, old, routing)
        item = ReviewItem(
            camera=event.camera,
            start=event.start,
            end=event.end,
            severity=Severity.detection,
            objects={},
        )
        s.add(item)
        s.flush()
        state = ReviewState.new
    else:
        state = ReviewState.update
    s.add(ReviewItemEvent(item_id=item.id, event_id=event.id))
    s.flush()
    if state is ReviewState.new:
        recompute(item, [event])
    else:
        add_to(s, item, event)
    if event.details.get("action") != "ignore":  # as the event's own notifications
        _announce(s, item, state, event.uid, routing)
    return item


def refresh_event(s: Session, event: Event, routing: Routing) -> bool:
    """After an event changed (completed, better snapshot or match): recompute its item;
    True when an announcement was queued."""
    item = s.scalar(
        select(ReviewItem)
        .join(ReviewItemEvent, ReviewItemEvent.item_id == ReviewItem.id)
        .where(ReviewItemEvent.event_id == event.id)
    )
    if item is None:
        return False
    s.flush()
    recompute(item, events_of(s, item.id))
    if item.closed or event.details.get("action") == "ignore":
        return False
    return _announce(s, item, ReviewState.update, event.uid, routing)


def close_idle(db: Database, routing: Routing, now: datetime | None = None) -> int:
    """Close the items that no event can join any more (ended over `gap_s` ago) and queue
    their `end` announcement; the number closed. The node calls it every few seconds."""
    cutoff = (now or utcnow()) - timedelta(seconds=routing.review_gap_s)
    with db.session() as s:
        items = list(
            s.scalars(
                select(ReviewItem).where(
                    ReviewItem.closed.is_(False),
                    ReviewItem.end.is_not(None),
                    ReviewItem.end < cutoff,
                )
            )
        )
        for item in items:
            _close(s, item, routing)
    return len(items)


@dataclass
class ReviewFilter:
    camera: str | None = None
    severity: Severity | None = None
    reviewed: bool | None = None  # by `user_id`; None: either
    user_id: int | None = None
    since: datetime | None = None  # the item's start >= since
    until: datetime | None = None  # the item's start < until


@dataclass
class ReviewPage:
    items: list[ReviewItem]
    next_cursor: str | None  # pass back as `cursor` for the next (older) page; None: last


def list_items(
    db: Database, f: ReviewFilter | None = None, *, limit: int = 50, cursor: str | None = None
) -> ReviewPage:
    """Items newest first (by start, then id), keyset-paged (`store.paging`)."""
    f = f or ReviewFilter()
    if not 1 <= limit <= 1000:
        raise InputError("limit must be between 1 and 1000")
    q = select(ReviewItem)
    if f.camera is not None:
        q = q.where(ReviewItem.camera == f.camera)
    if f.severity is not None:
        q = q.where(ReviewItem.severity == f.severity)
    if f.since is not None:
        q = q.where(ReviewItem.start >= f.since)
    if f.until is not None:
        q = q.where(ReviewItem.start < f.until)
    if f.reviewed is not None:
        if f.user_id is None:
            raise InputError("filtering by reviewed needs the user")
        mine = select(ReviewMark.item_id).where(ReviewMark.user_id == f.user_id)
        q = q.where(ReviewItem.id.in_(mine) if f.reviewed else ReviewItem.id.not_in(mine))
    with db.session() as s:
        rows = list(s.scalars(newest_first(q, ReviewItem, limit=limit, cursor=cursor)))
    return ReviewPage(*page(rows, limit))


def items_between(
    db: Database, camera: str, start: datetime, end: datetime, *, limit: int = 1000
) -> list[ReviewItem]:
    """A camera's items overlapping [start, end) (ongoing ones too), oldest first; the newest
    `limit` of them (a time line draws them)."""
    q = (
        select(ReviewItem)
        .where(ReviewItem.camera == camera, ReviewItem.start < end)
        .where(or_(ReviewItem.end.is_(None), ReviewItem.end >= start))
        .order_by(ReviewItem.start.desc(), ReviewItem.id.desc())
        .limit(limit)
    )
    with db.session() as s:
        return list(reversed(s.scalars(q).all()))


def get_item(db: Database, item_id: int) -> tuple[ReviewItem, list[Event]] | None:
    """An item and its events (oldest first); None when there is no such item."""
    with db.session() as s:
        item = s.get(ReviewItem, item_id)
        return None if item is None else (item, events_of(s, item_id))


def best_events(db: Database, items: list[ReviewItem]) -> dict[int, Event]:
    """The best-snapshot event of each item (item id -> event), for those that have one."""
    ids = {i.best_event_id for i in items if i.best_event_id is not None}
    if not ids:
        return {}
    with db.session() as s:
        events = {e.id: e for e in s.scalars(select(Event).where(Event.id.in_(ids)))}
    return {
        i.id: events[i.best_event_id]
        for i in items
        if i.best_event_id in events and events[i.best_event_id].snapshot
    }


def mark_reviewed(db: Database, user_id: int, item_ids: Iterable[int]) -> int:
    """Mark items reviewed by a user (idempotent); the number newly marked. NotFoundError,
    and nothing marked, when any of the items does not exist."""
    ids = sorted(set(item_ids))
    with db.session() as s:
        found = set(s.scalars(select(ReviewItem.id).where(ReviewItem.id.in_(ids))))
        missing = [i for i in ids if i not in found]
        if missing:
            raise NotFoundError(f"no review item {', '.join(map(str, missing[:10]))}")
        q = select(ReviewMark.item_id).where(
            ReviewMark.user_id == user_id, ReviewMark.item_id.in_(ids)
        )
        done = set(s.scalars(q))
        todo = [i for i in ids if i not in done]
        s.add_all(ReviewMark(item_id=i, user_id=user_id) for i in todo)
    return len(todo)


def unmark_reviewed(db: Database, user_id: int, item_id: int) -> bool:
    """True when the item was marked reviewed by the user."""
    with db.session() as s:
        res = s.execute(
            delete(ReviewMark).where(ReviewMark.item_id == item_id, ReviewMark.user_id == user_id)
        )
        return bool(rowcount(res))


def reviewed_by(db: Database, user_id: int, item_ids: Iterable[int]) -> set[int]:
    """Which of `item_ids` the user marked reviewed."""
    ids = list(item_ids)
    if not ids:
        return set()
    with db.session() as s:
        q = select(ReviewMark.item_id).where(
            ReviewMark.user_id == user_id, ReviewMark.item_id.in_(ids)
        )
        return set(s.scalars(q))
