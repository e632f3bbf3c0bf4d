"""Events, watchlists and the notification outbox.

An event and its outbox rows are written in one transaction, so a notification is never
lost between "stored" and "sent": the dispatcher delivers pending rows until they succeed.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey, Index, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from vigil.store.base import Base, UTCDateTime, utcnow
from vigil.store.enums import WatchAction


class EventKind(enum.StrEnum):
    motion = "motion"
    person = "person"
    face = "face"
    known_person = "known_person"
    zone_change = "zone_change"
    vehicle = "vehicle"
    # camera health and tamper alarms (`store.enums.HealthCondition`): open while they last
    camera_covered = "camera_covered"
    camera_dark = "camera_dark"
    camera_blurred = "camera_blurred"
    camera_moved = "camera_moved"
    camera_frozen = "camera_frozen"
    camera_stream_collapse = "camera_stream_collapse"
    camera_recording_gap = "camera_recording_gap"

    @property
    def is_health(self) -> bool:
        return self.value.startswith("camera_")


class Channel(enum.StrEnum):
    mqtt = "mqtt"
    webhook = "webhook"
    push = "push"  # Web Push to one subscribed browser or phone; target: the subscription id


class EventState(enum.StrEnum):
    """Which notification of an event an outbox row is: when it was stored, or its end."""

    started = "started"
    ended = "ended"  # an announced event completed (end, best face, identity final)


class Verification(enum.StrEnum):
    """Where a match that needs people to confirm it stands (`vigil.events.verification`)."""

    pending = "pending"
    confirmed = "confirmed"
    rejected = "rejected"


class Verdict(enum.StrEnum):
    confirm = "confirm"
    reject = "reject"


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_camera_start", "camera", "start"),
        Index("ix_events_kind_start", "kind", "start"),
        Index("ix_events_person_start", "person_id", "start"),
        # The unfiltered, newest-first events list pages by (start, id): `vigil bench api`.
        Index("ix_events_start_id", "start", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Globally unique (UUIDv7, time-ordered): idempotency key here and when syncing to a hub.
    uid: Mapped[str] = mapped_column(String(36), unique=True)
    camera: Mapped[str] = mapped_column(String(100))
    kind: Mapped[EventKind] = mapped_column(Enum(EventKind, native_enum=False, length=32))
    start: Mapped[datetime] = mapped_column(UTCDateTime)
    end: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    snapshot: Mapped[str | None] = mapped_column(Text, nullable=True)  # relative to data_dir
    # [[t_offset_s, x, y, w, h], ...] in frame pixels, t relative to start.
    box_path: Mapped[list[list[float]] | None] = mapped_column(JSON, nullable=True)
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL"), nullable=True
    )
    score: Mapped[float | None] = mapped_column(nullable=True)
    confidence: Mapped[float | None] = mapped_column(nullable=True)
    zone: Mapped[str | None] = mapped_column(String(100), nullable=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # NULL: no one needs to confirm this event; else its match's state, and how many
    # different people must confirm it before its notifications go out.
    verification: Mapped[Verification | None] = mapped_column(
        Enum(Verification, native_enum=False, length=16), nullable=True, index=True
    )
    confirmations_required: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Set by database triggers (0014) on every insert and update: the hub sync's change order.
    sync_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0", index=True)

    deliveries: Mapped[list[Delivery]] = relationship(
        back_populates="event", cascade="all, delete-orphan", passive_deletes=True
    )


class Watchlist(Base):
    __tablename__ = "watchlists"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    action: Mapped[WatchAction] = mapped_column(Enum(WatchAction, native_enum=False, length=16))
    notes: Mapped[str] = mapped_column(Text, default="")
    # Different people who must confirm a match before its notifications go out; 0: none.
    confirmations_required: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # set when the hub pushed this watchlist; NULL: made here
    hub_uid: Mapped[str | None] = mapped_column(String(36), nullable=True, unique=True, index=True)

    members: Mapped[list[WatchlistMember]] = relationship(
        back_populates="watchlist", cascade="all, delete-orphan", passive_deletes=True
    )


class WatchlistMember(Base):
    __tablename__ = "watchlist_members"

    watchlist_id: Mapped[int] = mapped_column(
        ForeignKey("watchlists.id", ondelete="CASCADE"), primary_key=True
    )
    person_id: Mapped[int] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    watchlist: Mapped[Watchlist] = relationship(back_populates="members")


class Delivery(Base):
    """One notification of one event to one target (outbox row); pending until delivered_at."""

    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_pending", "channel", "delivered_at", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_uid: Mapped[str] = mapped_column(ForeignKey("events.uid", ondelete="CASCADE"), index=True)
    channel: Mapped[Channel] = mapped_column(Enum(Channel, native_enum=False, length=16))
    target: Mapped[str] = mapped_column(Text)  # MQTT topic, webhook URL, push subscription id
    state: Mapped[EventState] = mapped_column(
        Enum(EventState, native_enum=False, length=16),
        default=EventState.started,
        server_default=EventState.started.value,
    )
    # Set when the row announces a review item (its state in `review_state`), not the event:
    # `event_uid` is then the event that changed the item. No foreign key (0018): the item's
    # rows are deleted with it (`events.review`).
    review_id: Mapped[int | None] = mapped_column(nullable=True, index=True)
    review_state: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # True while its event's match waits for people to confirm it: not delivered until then.
    held: Mapped[bool] = mapped_column(default=False, server_default=false())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str] = mapped_column(Text, default="")
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    gave_up_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    event: Mapped[Event] = relationship(back_populates="deliveries")
    log: Mapped[list[DeliveryAttempt]] = relationship(
        back_populates="delivery",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="DeliveryAttempt.id",
    )


class DeliveryAttempt(Base):
    """The delivery log: one row per attempt, with its outcome."""

    __tablename__ = "delivery_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("deliveries.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ok: Mapped[bool] = mapped_column(default=False)
    status: Mapped[int | None] = mapped_column(nullable=True)  # HTTP status code
    error: Mapped[str] = mapped_column(Text, default="")
    duration_ms: Mapped[float] = mapped_column(default=0.0)

    delivery: Mapped[Delivery] = relationship(back_populates="log")


class MatchVerification(Base):
    """One person's verdict on one event's match, with their stated reason."""

    __tablename__ = "match_verifications"
    __table_args__ = (UniqueConstraint("event_uid", "actor", name="uq_match_verifications_actor"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_uid: Mapped[str] = mapped_column(ForeignKey("events.uid", ondelete="CASCADE"), index=True)
    actor: Mapped[str] = mapped_column(String(200))  # the user name, as in the audit log
    verdict: Mapped[Verdict] = mapped_column(Enum(Verdict, native_enum=False, length=16))
    reason: Mapped[str] = mapped_column(Text)
    person_id: Mapped[int | None] = mapped_column(nullable=True)  # the match judged
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
