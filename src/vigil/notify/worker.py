"""What every delivery thread of the dispatcher shares: the due-rows query, the backoff, the
loop that wakes on new rows or after a pause (`vigil.notify.dispatcher`)."""

from __future__ import annotations

import logging
import random
import threading
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from vigil.store.models.events import Channel, Delivery, DeliveryAttempt, Event
from vigil.store.models.faces import Person
from vigil.store.models.review import ReviewItem

if TYPE_CHECKING:
    from vigil.notify.dispatcher import Dispatcher

log = logging.getLogger("vigil.notify.dispatcher")


def backoff_s(attempts: int, lo: float, hi: float) -> float:
    """Seconds to wait after the `attempts`-th failure: lo, 2lo, 4lo ... capped at hi, -20%."""
    return min(hi, lo * 2 ** max(0, attempts - 1)) * random.uniform(0.8, 1.0)


class Attempt(Protocol):
    """What one try at delivering returns (`webhook.PostResult`, `push.PushResult`)."""

    ok: bool
    status: int | None
    error: str
    duration_ms: float


def note_attempt(s: Session, d: Delivery, r: Attempt, now: datetime) -> None:
    """Count one try at delivering row `d` and keep its outcome (the delivery log)."""
    d.attempts += 1
    s.add(
        DeliveryAttempt(
            delivery_id=d.id,
            at=now,
            ok=r.ok,
            status=r.status,
            error=r.error,
            duration_ms=r.duration_ms,
        )
    )


def due(
    channel: Channel, target: str | None, now: datetime, limit: int
) -> Select[Delivery, Event, str, ReviewItem]:
    """Pending rows of `channel` (and `target`) due at `now`, oldest first, with their event,
    its person's name and the review item they announce (None for an event's own rows)."""
    q = select(Delivery, Event, Person.name, ReviewItem).join(
        Event, Event.uid == Delivery.event_uid
    )
    q = q.outerjoin(Person, Person.id == Event.person_id)
    q = q.outerjoin(ReviewItem, ReviewItem.id == Delivery.review_id).where(
        Delivery.channel == channel,
        Delivery.delivered_at.is_(None),
        Delivery.gave_up_at.is_(None),
        Delivery.held.is_(False),  # a match waiting for people to confirm it
        Delivery.next_attempt_at <= now,
    )
    if target is not None:
        q = q.where(Delivery.target == target)
    return q.order_by(Delivery.id).limit(limit)


class Worker(threading.Thread):
    """One delivery thread of the dispatcher: `step` until it stops, woken by `bell`."""

    def __init__(self, d: Dispatcher, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self.d = d
        self.bell = threading.Event()

    def run(self) -> None:
        while not self.d.stopping.is_set():
            self.bell.clear()
            try:
                wait = self.step()
            except Exception:  # keep delivering after a surprise (DB locked, bug)
                log.exception("%s failed; retrying", self.name)
                wait = self.d.retry_min_s
            self.bell.wait(min(wait, self.d.poll_s))
        self.finish()

    def finish(self) -> None:
        """Last words before the thread ends."""

    def step(self) -> float:
        """Deliver what is due; return seconds until it is worth looking again."""
        raise NotImplementedError

    def too_old(self, delivery: Delivery, now: datetime) -> bool:
        return now - delivery.created_at > self.d.give_up_after
