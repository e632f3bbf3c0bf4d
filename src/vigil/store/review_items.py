"""What a review item is, from its events; items kept consistent when events change.

`recompute` derives an item's span, severity, object counts and best snapshot from its
events (the one rule, used by the grouping in `vigil.events.review` and by retention).
`detach_events` (before events are deleted) and `refresh_events` (after events changed outside
the event store, e.g. a snapshot cleared) run in the caller's transaction: an item left empty
is deleted with its outbox rows and reviewed marks, the others are recomputed. Here in `store`
so that retention (`vigil.privacy`) can keep items consistent without importing the pipeline.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from vigil.store.base import utcnow
from vigil.store.models.events import Delivery, Event, EventKind
from vigil.store.models.review import ReviewItem, ReviewItemEvent, Severity


def reviewable(kind: str, details: dict[str, Any]) -> bool:
    """Whether an event belongs in a review item: not motion (drawn as spans), not a camera
    health alarm (the camera's state, shown on its own), not a machine zone's running/idle
    (state of a machine, not an activity)."""
    if kind == EventKind.motion or EventKind(kind).is_health:
        return False
    return not (kind == EventKind.zone_change and details.get("zone_kind") == "machine")


def is_alert(kind: str, details: dict[str, Any]) -> bool:
    """A known person, a watchlist hit or a restricted-zone intrusion; a person only on
    `ignore` watchlists is not."""
    if details.get("action") == "ignore":
        return False
    if kind == EventKind.known_person or details.get("watchlists"):
        return True
    return kind == EventKind.zone_change and details.get("zone_kind") == "restricted"


def _best_key(e: Event) -> tuple[float, float, int]:
    quality = e.details.get("face_quality") if e.details else None
    score = -1.0 if e.score is None else e.score
    return (score, float(quality) if isinstance(quality, int | float) else 0.0, e.id)


def events_of(s: Session, item_id: int) -> list[Event]:
    q = (
        select(Event)
        .join(ReviewItemEvent, ReviewItemEvent.event_id == Event.id)
        .where(ReviewItemEvent.item_id == item_id)
        .order_by(Event.start, Event.id)
    )
    return list(s.scalars(q))


def recompute(item: ReviewItem, events: list[Event]) -> None:
    objects: dict[str, int] = {}
    for e in events:
        objects[e.kind.value] = objects.get(e.kind.value, 0) + 1
    ends = [e.end for e in events]
    shots = [e for e in events if e.snapshot]
    item.start = min(e.start for e in events)
    item.end = None if None in ends else max(e for e in ends if e is not None)
    item.objects = objects
    alert = any(is_alert(e.kind.value, e.details or {}) for e in events)
    item.severity = Severity.alert if alert else Severity.detection
    item.best_event_id = max(shots, key=_best_key).id if shots else None
    item.updated_at = utcnow()


def add_to(s: Session, item: ReviewItem, event: Event) -> None:
    """`recompute` for one event joining an item that already holds others, without reading
    them back: an item of n events then costs O(1) a join instead of O(n)."""
    kind = event.kind.value
    item.objects = {**item.objects, kind: item.objects.get(kind, 0) + 1}
    item.start = min(item.start, event.start)
    if item.end is not None:
        item.end = None if event.end is None else max(item.end, event.end)
    if is_alert(kind, event.details or {}):
        item.severity = Severity.alert
    best = s.get(Event, item.best_event_id) if item.best_event_id is not None else None
    if event.snapshot and (best is None or _best_key(event) > _best_key(best)):
        item.best_event_id = event.id
    item.updated_at = utcnow()


def _items_of(s: Session, event_ids: Iterable[int]) -> set[int]:
    ids = list(event_ids)
    if not ids:
        return set()
    q = select(ReviewItemEvent.item_id).where(ReviewItemEvent.event_id.in_(ids))
    return set(s.scalars(q))


def _refresh_items(s: Session, item_ids: set[int], gone: set[int]) -> None:
    for item_id in sorted(item_ids):
        item = s.get(ReviewItem, item_id)
        if item is None:
            continue
        events = [e for e in events_of(s, item_id) if e.id not in gone]
        if events:
            recompute(item, events)
        else:
            s.execute(delete(Delivery).where(Delivery.review_id == item_id))
            s.delete(item)


def detach_events(s: Session, event_ids: Iterable[int]) -> None:
    """Before `event_ids` are deleted (same transaction): their items are recomputed without
    them, and an item left empty is deleted with its outbox rows and reviewed marks."""
    gone = set(event_ids)
    items = _items_of(s, gone)
    if gone:
        s.execute(delete(ReviewItemEvent).where(ReviewItemEvent.event_id.in_(gone)))
    _refresh_items(s, items, gone)


def refresh_events(s: Session, event_ids: Iterable[int]) -> None:
    """After events changed outside the event store (a snapshot cleared by retention): their
    items' best snapshot, span and severity recomputed."""
    _refresh_items(s, _items_of(s, event_ids), set())
