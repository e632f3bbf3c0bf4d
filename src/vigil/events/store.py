"""The event store: create events (with their outbox rows), complete them, list them.

`create_event` writes the event, one outbox row per notification target (a known person's
watchlists, `events.watchlists`, decide whether and how they are told; a match that people
must confirm first is stored pending with its rows held, `events.verification`) and the
event's place in a review item (`events.review`) in one transaction; `update_event` completes an
announced event and, in the same transaction, queues an `ended` row for each target its start
went to and updates its review item. `vigil.notify.dispatcher.Dispatcher` delivers those rows
until they succeed.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vigil.config import VigilConfig
from vigil.errors import InputError, NotFoundError
from vigil.events import review
from vigil.events.push_targets import push_targets
from vigil.events.verification import required_in
from vigil.events.watchlists import actions_in, effective_action
from vigil.faces.verified_pairs import keep_pair
from vigil.store.db import Database
from vigil.store.models.events import (
    Channel,
    Delivery,
    Event,
    EventKind,
    EventState,
    Verification,
    WatchAction,
)
from vigil.store.paging import read_page, where_events
from vigil.store.review_items import is_alert
from vigil.topics import event_topics

SNAPSHOTS = "snapshots"  # folder under data_dir


def new_uid() -> str:
    """A UUIDv7 string: 48-bit Unix milliseconds then random bits, so uids sort by time."""
    value = (time.time_ns() // 1_000_000) << 80 | secrets.randbits(80)
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 4122 variant
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


@dataclass(frozen=True)
class Routing:
    """Where notifications of new events go, and how events group into review items. Build
    once with `Routing.from_config`."""

    site: str = ""
    mqtt_prefix: str | None = None  # None: MQTT off
    webhooks: tuple[tuple[str, frozenset[str]], ...] = ()  # (url, kinds; empty = all)
    review_gap_s: float = review.DEFAULT_GAP_S  # `review.gap_s`
    push: bool = False  # Web Push to the devices that subscribed (`notify.push.enabled`)

    @classmethod
    def from_config(cls, cfg: VigilConfig) -> Routing:
        n = cfg.notify
        return cls(
            site=cfg.site.name,
            mqtt_prefix=n.mqtt.topic_prefix if n.mqtt.enabled else None,
            webhooks=tuple((w.url, frozenset(w.kinds)) for w in n.webhooks),
            review_gap_s=cfg.review.gap_s,
            push=n.push.enabled,
        )

    def targets(self, camera: str, kind: str) -> list[tuple[Channel, str]]:
        out: list[tuple[Channel, str]] = []
        if self.mqtt_prefix is not None:
            topics = event_topics(self.mqtt_prefix, self.site, camera, kind)
            out += [(Channel.mqtt, t) for t in topics]
        out += [
            (Channel.webhook, url) for url, kinds in self.webhooks if not kinds or kind in kinds
        ]
        return out


NO_ROUTING = Routing()
CreatedHook = Callable[[Session, Event], None]


def _write_snapshot(data_dir: Path, camera: str, start: datetime, uid: str, jpeg: bytes) -> str:
    rel = Path(SNAPSHOTS) / camera / start.strftime("%Y-%m-%d") / f"{uid}.jpg"
    path = data_dir / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        f.write(jpeg)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)
    return rel.as_posix()


def create_event(
    db: Database,
    *,
    camera: str,
    kind: EventKind | str,
    start: datetime,
    end: datetime | None = None,
    uid: str | None = None,
    snapshot_jpeg: bytes | None = None,
    data_dir: Path | None = None,
    box_path: Sequence[Sequence[float]] | None = None,
    person_id: int | None = None,
    score: float | None = None,
    confidence: float | None = None,
    zone: str | None = None,
    details: dict[str, Any] | None = None,
    routing: Routing = NO_ROUTING,
    wake: Callable[[], None] | None = None,
    model: str | None = None,
    on_created: CreatedHook | None = None,
) -> Event:
    """Store one event and its outbox rows in one transaction; return the stored event.

    Idempotent on `uid`: a second call with a stored uid returns the stored event and adds
    nothing. `box_path` rows are [t_offset_s, x, y, w, h]. A person on an `ignore`
    watchlist (and on no stronger one) gets no notifications; the event is still stored.
    A person on a watchlist that wants confirmations: the event is stored `pending`, its rows
    held, and its score kept with `model` for the verdict's labelled pair (never the face).
    `wake` (e.g. `Dispatcher.wake`) is called after the commit so delivery starts at once.
    `on_created(session, event)` runs inside the transaction when the event is new (the
    recognition log's match record, `privacy.recognition_log`).
    """
    kind = EventKind(kind)
    if start.tzinfo is None or (end is not None and end.tzinfo is None):
        raise InputError("event times must be timezone-aware (UTC)")
    uid = uid or new_uid()
    existing = get_event(db, uid)
    if existing is not None:
        return existing
    snapshot = None
    if snapshot_jpeg is not None:
        if data_dir is None:
            raise InputError("a snapshot needs data_dir")
        snapshot = _write_snapshot(data_dir, camera, start, uid, snapshot_jpeg)
    details = dict(details or {})
    try:
        with db.session() as s:
            action = WatchAction.notify
            required = 0
            if person_id is not None:
                lists = actions_in(s, person_id)
                if lists:
                    action = effective_action(lists.values())
                    details["watchlists"] = sorted(lists)
                    details["action"] = action.value
                    required = required_in(s, person_id)
            event = Event(
                uid=uid,
                camera=camera,
                kind=kind,
                start=start,
                end=end,
                snapshot=snapshot,
                box_path=[[round(float(v), 3) for v in row] for row in box_path]
                if box_path is not None
                else None,
                person_id=person_id,
                score=score,
                confidence=confidence,
                zone=zone,
                details=details,
                verification=Verification.pending if required else None,
                confirmations_required=required,
            )
            s.add(event)
            if action is not WatchAction.ignore:
                held = required > 0  # sent once people confirm the match
                targets = routing.targets(camera, kind.value)
                if routing.push and is_alert(kind.value, details):
                    targets += [(Channel.push, t) for t in push_targets(s, camera, alerts=True)]
                for channel, target in targets:
                    s.add(Delivery(event_uid=uid, channel=channel, target=target, held=held))
            s.flush()
            if required and person_id is not None and score is not None and model:
                keep_pair(s, uid, person_id, model, score)
            review.place_event(s, event, routing)
            if on_created is not None:
                on_created(s, event)
    except IntegrityError:
        # A concurrent writer stored the same uid first; theirs stands.
        stored = get_event(db, uid)
        if stored is None:
            raise
        return stored
    if wake is not None:
        wake()
    return event


class Draft(Protocol):
    """What `store_draft` reads from an analyzer's `EventDraft` (times in POSIX seconds)."""

    camera: str
    kind: str
    start: float
    end: float
    track_id: int
    box_path: list[tuple[float, tuple[float, float, float, float]]]
    snapshot_jpeg: bytes | None
    person_id: int | None
    score: float | None
    confidence: float | None
    face_quality: float | None
    zone: str | None
    details: dict[str, Any]
    uid: str | None


def update_event(
    db: Database,
    uid: str,
    *,
    end: datetime,
    data_dir: Path,
    snapshot_jpeg: bytes | None = None,
    box_path: Sequence[Sequence[float]] | None = None,
    person_id: int | None = None,
    score: float | None = None,
    confidence: float | None = None,
    details: dict[str, Any] | None = None,
    routing: Routing = NO_ROUTING,
    wake: Callable[[], None] | None = None,
    model: str | None = None,
) -> Event:
    """Complete an event announced earlier: its end, final snapshot, path and best match.
    Every target its announcement went to gets an `ended` notification (one still waiting
    is not doubled: it is built when sent, so it carries this completion too; one whose
    match waits for verification is held with the others). A rejected match stays nobody's."""
    with db.session() as s:
        event = s.scalar(select(Event).where(Event.uid == uid))
        if event is None:
            raise NotFoundError(f"no event {uid}")
        event.end = end
        if snapshot_jpeg is not None:
            event.snapshot = _write_snapshot(
                data_dir, event.camera, event.start, uid, snapshot_jpeg
            )
        if box_path is not None:
            event.box_path = [[round(float(v), 3) for v in row] for row in box_path]
        rejected = event.verification is Verification.rejected
        if score is not None and not rejected and (event.score is None or score >= event.score):
            event.person_id, event.score, event.confidence = person_id, score, confidence
            required = 0 if person_id is None else required_in(s, person_id)
            if event.verification is None and required:  # a better match, on a list that asks
                event.verification, event.confirmations_required = Verification.pending, required
        event.details = {**event.details, **(details or {})}
        pending = event.verification is Verification.pending
        if pending and event.person_id is not None and event.score is not None and model:
            keep_pair(s, uid, event.person_id, model, event.score)
        queued = _queue_ended(s, uid, held=event.verification is Verification.pending)
        queued += review.refresh_event(s, event, routing)
    if queued and wake is not None:
        wake()
    return event


def _queue_ended(s: Session, uid: str, *, held: bool) -> int:
    own = select(Delivery).where(Delivery.event_uid == uid, Delivery.review_id.is_(None))
    rows = list(s.scalars(own.order_by(Delivery.id)))
    waiting = {
        (r.channel, r.target)
        for r in rows
        if r.state is EventState.ended and r.delivered_at is None and r.gave_up_at is None
    }
    # A start given up on went to a target since removed (or dead for days): no end either.
    # A phone is told once, when it starts.
    targets = dict.fromkeys(
        (r.channel, r.target)
        for r in rows
        if r.state is EventState.started and r.gave_up_at is None and r.channel is not Channel.push
    )
    todo = [t for t in targets if t not in waiting]
    for channel, target in todo:
        s.add(
            Delivery(
                event_uid=uid, channel=channel, target=target, state=EventState.ended, held=held
            )
        )
    return 0 if held else len(todo)


def store_draft(
    db: Database,
    draft: Draft,
    *,
    data_dir: Path,
    routing: Routing = NO_ROUTING,
    wake: Callable[[], None] | None = None,
    model: str | None = None,
    on_created: CreatedHook | None = None,
) -> Event:
    """Store an analyzer's event draft (box times become offsets from the start). A draft
    whose uid is stored already (announced while the track was live) completes that event.
    `model`: the face model that scored a known person's match."""
    details: dict[str, Any] = {"track": draft.track_id, **draft.details}
    if draft.face_quality is not None:
        details["face_quality"] = draft.face_quality
    if draft.uid is not None and get_event(db, draft.uid) is not None:
        return update_event(
            db,
            draft.uid,
            end=datetime.fromtimestamp(draft.end, UTC),
            data_dir=data_dir,
            snapshot_jpeg=draft.snapshot_jpeg,
            box_path=[[t - draft.start, *box] for t, box in draft.box_path],
            person_id=draft.person_id,
            score=draft.score,
            confidence=draft.confidence,
            details=details,
            routing=routing,
            wake=wake,
            model=model,
        )
    return create_event(
        db,
        camera=draft.camera,
        kind=draft.kind,
        start=datetime.fromtimestamp(draft.start, UTC),
        end=datetime.fromtimestamp(draft.end, UTC),
        snapshot_jpeg=draft.snapshot_jpeg,
        data_dir=data_dir,
        box_path=[[t - draft.start, *box] for t, box in draft.box_path],
        person_id=draft.person_id,
        score=draft.score,
        confidence=draft.confidence,
        zone=draft.zone,
        uid=draft.uid,
        details=details,
        routing=routing,
        wake=wake,
        model=model,
        on_created=on_created,
    )


def get_event(db: Database, uid: str) -> Event | None:
    with db.session() as s:
        return s.scalar(select(Event).where(Event.uid == uid))


@dataclass
class EventFilter:
    camera: str | None = None
    kinds: Sequence[EventKind | str] = ()  # empty: every kind
    person_id: int | None = None
    zone: str | None = None
    since: datetime | None = None  # start >= since
    until: datetime | None = None  # start < until


@dataclass
class EventPage:
    events: list[Event]
    next_cursor: str | None  # pass back as `cursor` for the next (older) page; None: last page


def list_events(
    db: Database, filters: EventFilter | None = None, *, limit: int = 50, cursor: str | None = None
) -> EventPage:
    """Events newest first (by start, then id), keyset-paged so inserts never shift pages."""
    f = filters or EventFilter()
    if not 1 <= limit <= 1000:
        raise InputError("limit must be between 1 and 1000")
    kinds = [EventKind(k) for k in f.kinds]
    q = where_events(
        select(Event), Event, camera=f.camera, kinds=kinds, since=f.since, until=f.until
    )
    if f.person_id is not None:
        q = q.where(Event.person_id == f.person_id)
    if f.zone is not None:
        q = q.where(Event.zone == f.zone)
    with db.session() as s:
        return EventPage(*read_page(s, q, Event, limit=limit, cursor=cursor))
