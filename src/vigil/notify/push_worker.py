"""The dispatcher's Web Push thread (`vigil.notify.push` builds and sends each message).

One outbox row per subscribed device. A failed row waits its own backoff, since devices use
different push services; a 404/410 deletes the subscription and gives up its rows; a row
whose event became a pending match is held like its event's others; whether the subscriber
may be told anything, and the person's name, is decided here, when sent (decision 0070).
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import httpx
from sqlalchemy import select, update

from vigil.notify import push
from vigil.notify.subscriptions import forget_subscription
from vigil.notify.vapid import load_or_create
from vigil.notify.worker import Worker, backoff_s, due, note_attempt
from vigil.store.base import utcnow
from vigil.store.models.events import Channel, Delivery, Event, Verification
from vigil.store.models.push import PushSubscription
from vigil.store.models.users import User

if TYPE_CHECKING:
    from vigil.notify.dispatcher import Dispatcher


class PushWorker(Worker):
    """Web Push to every subscribed device, one row at a time."""

    def __init__(self, d: Dispatcher, audience: push.Audience) -> None:
        super().__init__(d, "notify-push")
        self.audience = audience
        self.cfg = d.push_cfg
        self.keys = load_or_create(d.data_dir)
        self.client = httpx.Client(follow_redirects=False)

    def step(self) -> float:
        now = utcnow()
        with self.d.db.session() as s:
            rows = list(s.execute(due(Channel.push, None, now, 20)))
            ids = {int(r[0].target) for r in rows}
            q = select(PushSubscription, User).join(User, User.id == PushSubscription.user_id)
            pairs = s.execute(q.where(PushSubscription.id.in_(ids)))
            subs = {sub.id: (sub, user) for sub, user in pairs}
        for delivery, event, person, item in rows:
            if self.d.stopping.is_set():
                break
            found = subs.get(int(delivery.target))
            why = ""
            if found is None:
                why = "push subscription removed"
            elif found[1].disabled or not self.audience.may_view(found[1].role):
                why = "the subscriber may no longer see events"
            elif self.too_old(delivery, now):
                why = "too old"
            elif delivery.review_id and item is None:
                why = "review item deleted"
            if why or found is None:
                self._finish(delivery.id, None, why)
                continue
            if item is None and event.verification is Verification.pending:
                self._hold(delivery.id)  # its match changed to one people must confirm first
                continue
            sub, user = found
            if item is not None:
                message = push.review_message(item, event.uid)
            else:
                identify = event.camera in self.d.recognising and self.audience.sees_identities(
                    user.role
                )
                message = push.event_message(event, person, identify=identify)
            r = push.send(
                self.client,
                sub,
                push.encode(message),
                keys=self.keys,
                subject=self.cfg.subject,
                ttl_s=self.cfg.ttl_s,
                urgency="normal" if item is not None else "high",
                timeout_s=self.cfg.timeout_s,
            )
            self._finish(delivery.id, r, r.error, gone=sub.id if r.gone else None)
        return 0.0 if len(rows) == 20 else self.d.poll_s

    def _finish(
        self, delivery_id: int, r: push.PushResult | None, error: str, gone: int | None = None
    ) -> None:
        """Record one attempt (`r`), or give the row up without one (`r` None)."""
        now = utcnow()
        with self.d.db.session() as s:
            d = s.get(Delivery, delivery_id)
            if d is None:
                return
            if r is not None:
                note_attempt(s, d, r, now)
            d.last_error = error
            if r is not None and r.ok:
                d.delivered_at = now
                s.execute(
                    update(PushSubscription)
                    .where(PushSubscription.id == int(d.target))
                    .values(last_sent_at=now)
                )
            elif r is None or r.permanent or gone is not None:
                d.gave_up_at = now
            else:
                wait = backoff_s(d.attempts, self.d.retry_min_s, self.d.retry_max_s)
                d.next_attempt_at = now + timedelta(seconds=wait)
            if gone is not None:
                forget_subscription(s, gone, now, "the push service no longer knows this device")

    def _hold(self, delivery_id: int) -> None:
        """Hold a row like those of its event (`events.verification` releases them all)."""
        still = select(Event.uid).where(Event.verification == Verification.pending)
        with self.d.db.session() as s:  # one statement: a verdict given meanwhile wins
            s.execute(
                update(Delivery)
                .where(Delivery.id == delivery_id, Delivery.event_uid.in_(still))
                .values(held=True)
            )

    def finish(self) -> None:
        self.client.close()
