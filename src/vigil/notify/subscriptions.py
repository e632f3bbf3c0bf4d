"""Web Push subscriptions: enable, list and remove the devices a user is told on.

A device is its push endpoint: enabling it again (another user on the same browser, or new
choices) replaces the row. Removing one gives up its pending outbox rows in the same
transaction, so nothing waits for a device that is gone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from vigil.errors import InputError, NotFoundError
from vigil.notify.push import check_keys
from vigil.store.base import utcnow
from vigil.store.db import Database, rowcount
from vigil.store.models.events import Channel, Delivery
from vigil.store.models.push import PushSubscription


@dataclass
class Choice:
    """What a device asks to be told."""

    alerts: bool = True
    reviews: bool = False
    cameras: list[str] = field(default_factory=list)  # empty: every camera


def subscribe(
    db: Database,
    user_id: int,
    endpoint: str,
    p256dh: str,
    auth: str,
    choice: Choice,
    *,
    known_cameras: list[str],
    label: str = "",
) -> PushSubscription:
    """Store (or replace) the device's subscription for `user_id`."""
    check_keys(endpoint, p256dh, auth)
    unknown = sorted(set(choice.cameras) - set(known_cameras))
    if unknown:
        raise InputError(f"no camera {', '.join(unknown)}")
    if not (choice.alerts or choice.reviews):
        raise InputError("choose alerts, review items or both (or remove the device)")
    with db.session() as s:
        sub = s.scalar(select(PushSubscription).where(PushSubscription.endpoint == endpoint))
        if sub is not None and sub.user_id != user_id:  # the browser changed hands
            forget_subscription(s, sub.id, utcnow(), "the device was enabled by another user")
            s.flush()
            sub = None
        if sub is None:
            sub = PushSubscription(user_id=user_id, endpoint=endpoint)
            s.add(sub)
        sub.p256dh, sub.auth, sub.label = p256dh, auth, label[:200]
        sub.alerts, sub.reviews, sub.cameras = choice.alerts, choice.reviews, sorted(choice.cameras)
        s.flush()
        return sub


def subscriptions(db: Database, user_id: int | None = None) -> list[PushSubscription]:
    """The user's devices (every user's when None), oldest first."""
    q = select(PushSubscription).order_by(PushSubscription.id)
    if user_id is not None:
        q = q.where(PushSubscription.user_id == user_id)
    with db.session() as s:
        return list(s.scalars(q))


def unsubscribe(db: Database, sub_id: int, *, user_id: int | None = None) -> None:
    """Remove a device (only the user's own unless `user_id` is None); NotFoundError else."""
    with db.session() as s:
        sub = s.get(PushSubscription, sub_id)
        if sub is None or (user_id is not None and sub.user_id != user_id):
            raise NotFoundError(f"no push subscription {sub_id}")
        forget_subscription(s, sub_id, utcnow(), "the device was removed")


def forget_subscription(s: Session, sub_id: int, now: datetime, why: str) -> int:
    """Delete a subscription and give up its pending rows, in the caller's transaction; the
    number of rows given up."""
    s.execute(delete(PushSubscription).where(PushSubscription.id == sub_id))
    pending = update(Delivery).where(
        Delivery.channel == Channel.push,
        Delivery.target == str(sub_id),
        Delivery.delivered_at.is_(None),
        Delivery.gave_up_at.is_(None),
    )
    return rowcount(s.execute(pending.values(gave_up_at=now, last_error=why, held=False)))
