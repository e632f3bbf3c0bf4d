"""Which Web Push subscriptions an event or a review item goes to (`store.models.push`).

Read inside the event store's transaction, so a device subscribed before an event is stored
gets it and the rows are written with the event (the outbox, decision 0035). Whether the
subscriber may still be told anything, and with or without a name, is decided when the row is
sent (`vigil.notify.dispatcher`): roles change, the row waits.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil.store.models.push import PushSubscription


def push_targets(
    s: Session, camera: str, *, alerts: bool = False, reviews: bool = False
) -> list[str]:
    """The ids (as outbox targets) of the subscriptions that asked for alerts (`alerts`) or
    review items (`reviews`) on `camera`."""
    q = select(PushSubscription.id, PushSubscription.cameras)
    if alerts:
        q = q.where(PushSubscription.alerts.is_(True))
    if reviews:
        q = q.where(PushSubscription.reviews.is_(True))
    return [
        str(i)
        for i, cams in s.execute(q.order_by(PushSubscription.id))
        if not cams or camera in cams
    ]
