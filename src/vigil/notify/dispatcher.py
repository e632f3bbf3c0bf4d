"""The outbox dispatcher: delivers pending `Delivery` rows until they succeed.

One worker thread per target (the MQTT broker, each webhook URL, Web Push), so a slow receiver
only delays itself. A worker that fails stops trying that target for a backoff period (capped
exponential), then retries the oldest row first: a receiver that is down costs one request
per backoff period, not one per pending event, and comes back to an ordered catch-up.
Every attempt is written to the delivery log. Web Push rows (one per subscribed device) back
off one by one instead: each goes to its own push service (`PushWorker`).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

import httpx
from sqlalchemy import select, update

from vigil.config import VigilConfig, WebhookConfig
from vigil.notify import push, webhook
from vigil.notify.mqtt import MqttLink
from vigil.notify.payload import encode, event_payload, review_payload
from vigil.notify.push_worker import PushWorker
from vigil.notify.worker import Worker, backoff_s, due, note_attempt
from vigil.store.base import utcnow
from vigil.store.db import Database
from vigil.store.models.events import Channel, Delivery, DeliveryAttempt, Event
from vigil.store.models.review import ReviewItem

log = logging.getLogger(__name__)

BATCH = 200
MQTT_MAX_INFLIGHT = 200  # unacknowledged publishes at once: a backlog drains, never floods
MQTT_ACK_TIMEOUT_S = 30.0  # a publish without PUBACK by then is retried


@dataclass
class _InFlight:
    delivery_id: int
    info: object  # paho MQTTMessageInfo
    sent: float  # perf_counter
    deadline: float


class _MqttWorker(Worker):
    def __init__(self, d: Dispatcher, link: MqttLink) -> None:
        super().__init__(d, "notify-mqtt")
        self.link = link
        self.inflight: dict[int, _InFlight] = {}

    def step(self) -> float:
        self._settle()
        if not self.link.connected:
            return self.d.poll_s
        room = min(BATCH, MQTT_MAX_INFLIGHT - len(self.inflight))
        if room <= 0:
            return 0.05
        now = utcnow()
        sent = 0
        with self.d.db.session() as s:
            for delivery, event, person, item in s.execute(due(Channel.mqtt, None, now, room)):
                if delivery.id in self.inflight:
                    continue
                if self.too_old(delivery, now) or (delivery.review_id and item is None):
                    delivery.gave_up_at = now  # too old, or its review item deleted meanwhile
                    continue
                body = self.d.body(delivery, event, person, item)
                info = self.link.publish(delivery.target, body)
                delivery.attempts += 1
                delivery.next_attempt_at = now + timedelta(seconds=MQTT_ACK_TIMEOUT_S)
                t = time.perf_counter()
                self.inflight[delivery.id] = _InFlight(delivery.id, info, t, t + MQTT_ACK_TIMEOUT_S)
                sent += 1
        return 0.0 if sent == room else (0.05 if self.inflight else self.d.poll_s)

    def finish(self) -> None:
        self._settle()  # record the acks that already arrived

    def _settle(self) -> None:
        """Mark acknowledged publishes delivered; schedule a retry for those without PUBACK."""
        if not self.inflight:
            return
        t = time.perf_counter()
        now = utcnow()
        done = [f for f in self.inflight.values() if f.info.is_published()]  # type: ignore[attr-defined]
        late = [f for f in self.inflight.values() if f not in done and t > f.deadline]
        if not done and not late:
            return
        with self.d.db.session() as s:
            for f in done:
                ms = (t - f.sent) * 1000
                s.execute(
                    update(Delivery)
                    .where(Delivery.id == f.delivery_id)
                    .values(delivered_at=now, last_error="")
                )
                s.add(DeliveryAttempt(delivery_id=f.delivery_id, at=now, ok=True, duration_ms=ms))
            for f in late:
                d = s.get(Delivery, f.delivery_id)
                if d is None:  # event deleted meanwhile
                    continue
                d.last_error = f"no PUBACK within {MQTT_ACK_TIMEOUT_S:.0f} s"
                wait = backoff_s(d.attempts, self.d.retry_min_s, self.d.retry_max_s)
                d.next_attempt_at = now + timedelta(seconds=wait)
                s.add(
                    DeliveryAttempt(
                        delivery_id=d.id, at=now, ok=False, error=d.last_error, duration_ms=0
                    )
                )
        for f in done + late:
            del self.inflight[f.delivery_id]


class _WebhookWorker(Worker):
    def __init__(self, d: Dispatcher, hook: WebhookConfig, index: int) -> None:
        super().__init__(d, f"notify-webhook-{index}")
        self.hook = hook
        self.client = httpx.Client(follow_redirects=False)
        self.failures = 0  # consecutive, for the target-wide backoff
        self.blocked_until = 0.0

    def step(self) -> float:
        if time.monotonic() < self.blocked_until:
            return self.blocked_until - time.monotonic()
        now = utcnow()
        with self.d.db.session() as s:
            rows = list(s.execute(due(Channel.webhook, self.hook.url, now, 20)))
        for delivery, event, person, _item in rows:  # review items go to MQTT only
            if self.d.stopping.is_set():
                break
            if self.too_old(delivery, now):
                self._give_up(delivery.id)
                continue
            body = self.d.body(delivery, event, person)
            r = webhook.post(
                self.client,
                self.hook.url,
                self.hook.secret,
                body,
                event_uid=event.uid,
                delivery_id=delivery.id,
                timeout_s=self.hook.timeout_s,
            )
            if r.ok:
                self.failures = 0
                self._record(delivery.id, r, 0.0)
                continue
            self.failures += 1
            wait = backoff_s(self.failures, self.d.retry_min_s, self.d.retry_max_s)
            self.blocked_until = time.monotonic() + wait
            self._record(delivery.id, r, wait)
            return wait
        return 0.0 if len(rows) == 20 else self.d.poll_s

    def _record(self, delivery_id: int, r: webhook.PostResult, wait: float) -> None:
        now = utcnow()
        with self.d.db.session() as s:
            d = s.get(Delivery, delivery_id)
            if d is None:
                return
            note_attempt(s, d, r, now)
            if r.ok:
                d.delivered_at = now
                d.last_error = ""
            else:
                d.last_error = r.error
                # Due again when the target-wide block ends, so the oldest row goes first.
                d.next_attempt_at = now + timedelta(seconds=wait * 0.99)

    def _give_up(self, delivery_id: int) -> None:
        with self.d.db.session() as s:
            s.execute(
                update(Delivery).where(Delivery.id == delivery_id).values(gave_up_at=utcnow())
            )

    def close(self) -> None:
        self.client.close()


class Dispatcher:
    """Delivers the outbox. `start()` once, `wake()` after new events, `stop()` on shutdown."""

    def __init__(
        self,
        db: Database,
        cfg: VigilConfig,
        *,
        poll_s: float = 1.0,
        audience: push.Audience | None = None,
    ) -> None:
        """`audience`: what each role may be told (`vigil.api.identity.push_audience`); without
        it no Web Push is sent (its rows wait)."""
        n = cfg.notify
        self.db = db
        self.site = cfg.site.name
        self.poll_s = poll_s
        self.retry_min_s = n.retry_min_s
        self.retry_max_s = max(n.retry_max_s, n.retry_min_s)
        self.give_up_after = timedelta(hours=n.give_up_after_h)
        self.stopping = threading.Event()
        # Names and ids go out only for cameras that recognise faces now (privacy switches).
        self.recognising = frozenset(c.name for c in cfg.cameras if cfg.recognises(c))
        self.mqtt: MqttLink | None = None
        self.workers: list[Worker] = []
        if n.mqtt.enabled:
            cameras = [c.name for c in cfg.cameras if c.enabled]
            self.mqtt = MqttLink(
                n.mqtt,
                self.site,
                cameras,
                recognising=self.recognising,
                on_change=self.wake,
                reconnect_max_s=self.retry_max_s,
            )
            self.workers.append(_MqttWorker(self, self.mqtt))
        self.workers += [_WebhookWorker(self, h, i) for i, h in enumerate(n.webhooks)]
        self._targets = {h.url for h in n.webhooks}
        self.push_cfg = n.push
        self.data_dir = cfg.storage.data_dir
        if n.push.enabled and audience is not None:
            self.workers.append(PushWorker(self, audience))

    def start(self) -> None:
        self._drop_orphans()
        self._due_now_after_restart()
        if self.mqtt is not None:
            self.mqtt.start()
        for w in self.workers:
            w.start()

    def _due_now_after_restart(self) -> None:
        """A publish waits MQTT_ACK_TIMEOUT_S for its PUBACK before it is sent again; nothing
        is in flight in a new process, so what the last one left waiting (killed, or its
        publishes never left it) is due now, not up to 30 s later."""
        if self.mqtt is None:
            return
        now = utcnow()
        with self.db.session() as s:
            s.execute(
                update(Delivery)
                .where(
                    Delivery.channel == Channel.mqtt,
                    Delivery.delivered_at.is_(None),
                    Delivery.gave_up_at.is_(None),
                    Delivery.next_attempt_at > now,
                )
                .values(next_attempt_at=now)
            )

    def wake(self) -> None:
        for w in self.workers:
            w.bell.set()

    def stop(self, timeout: float = 5.0) -> None:
        self.stopping.set()
        self.wake()
        for w in self.workers:
            if w.is_alive():
                w.join(timeout)
            if isinstance(w, _WebhookWorker):
                w.close()
        if self.mqtt is not None:
            self.mqtt.stop()

    def body(
        self,
        delivery: Delivery,
        event: Event,
        person_name: str | None,
        item: ReviewItem | None = None,
    ) -> bytes:
        """What one outbox row sends: the event (or the review item) as stored now, with the
        row's state."""
        if item is not None:
            return encode(review_payload(item, delivery.review_state or "update", self.site))
        identify = event.camera in self.recognising
        return encode(
            event_payload(event, person_name, self.site, delivery.state, identify=identify)
        )

    def set_camera_status(self, camera: str, state: str, **extra: object) -> None:
        """Retained `{"state": ..., ...}` on the camera's status topic (no-op without MQTT)."""
        if self.mqtt is not None:
            self.mqtt.set_camera_status(camera, {"state": state, **extra})

    def set_zone_occupancy(self, camera: str, zone: str, people: int) -> None:
        """Retained `{"people": N, "at": ...}` on the zone's occupancy topic (no-op without
        MQTT)."""
        if self.mqtt is not None:
            at = utcnow().isoformat(timespec="seconds")
            self.mqtt.set_zone_occupancy(camera, zone, {"people": people, "at": at})

    def set_storage_status(self, status: dict[str, object]) -> None:
        """Retained storage alarm on `<prefix>/<site>/storage` (no-op without MQTT)."""
        if self.mqtt is not None:
            self.mqtt.set_storage_status(dict(status))

    def _drop_orphans(self) -> None:
        """Give up pending rows whose target is no longer configured (they would wait forever)."""
        now = utcnow()
        pending = (Delivery.delivered_at.is_(None), Delivery.gave_up_at.is_(None))
        with self.db.session() as s:
            hooks = update(Delivery).where(
                *pending, Delivery.channel == Channel.webhook, Delivery.target.not_in(self._targets)
            )
            s.execute(hooks.values(gave_up_at=now, last_error="webhook no longer configured"))
            if self.mqtt is None:
                mq = update(Delivery).where(*pending, Delivery.channel == Channel.mqtt)
                s.execute(mq.values(gave_up_at=now, last_error="MQTT no longer enabled"))
            if not self.push_cfg.enabled:
                off = update(Delivery).where(*pending, Delivery.channel == Channel.push)
                s.execute(off.values(gave_up_at=now, last_error="Web Push no longer enabled"))


def pending_count(db: Database) -> int:
    with db.session() as s:
        q = select(Delivery.id).where(
            Delivery.delivered_at.is_(None), Delivery.gave_up_at.is_(None)
        )
        return len(list(s.scalars(q)))
