"""Review items: a camera's overlapping events grouped into one activity an operator reviews.

An item belongs to one camera and spans its events (`end` NULL while one of them is still
going on); `closed` once no further event can join (`vigil.events.review`). Its events are
linked through `review_item_events`, whose rows go with the event (ON DELETE CASCADE), so an
item never names an event that is gone; the best snapshot is a reference to an event
(`best_event_id`) and is read from that event, never copied. Reviewed state is per user
(`review_marks`).
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Enum, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from vigil.store.base import Base, UTCDateTime, utcnow


class Severity(enum.StrEnum):
    alert = "alert"  # a known person, a watchlist hit, a restricted-zone intrusion
    detection = "detection"  # the rest: people, faces, doorway crossings, ...


class ReviewState(enum.StrEnum):
    """Which announcement of an item an outbox row is."""

    new = "new"
    update = "update"
    end = "end"


class ReviewItem(Base):
    __tablename__ = "review_items"
    __table_args__ = (
        Index("ix_review_items_camera_start", "camera", "start"),
        Index("ix_review_items_start_id", "start", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    camera: Mapped[str] = mapped_column(String(100))
    start: Mapped[datetime] = mapped_column(UTCDateTime)
    end: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)  # NULL: ongoing
    severity: Mapped[Severity] = mapped_column(Enum(Severity, native_enum=False, length=16))
    objects: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)  # event kind -> count
    best_event_id: Mapped[int | None] = mapped_column(
        ForeignKey("events.id", ondelete="SET NULL"), nullable=True
    )
    closed: Mapped[bool] = mapped_column(default=False)  # no event joins any more
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReviewItemEvent(Base):
    """An event's place in an item (each event is in at most one)."""

    __tablename__ = "review_item_events"

    item_id: Mapped[int] = mapped_column(
        ForeignKey("review_items.id", ondelete="CASCADE"), primary_key=True
    )
    event_id: Mapped[int] = mapped_column(
        ForeignKey("events.id", ondelete="CASCADE"), primary_key=True, unique=True
    )


class ReviewMark(Base):
    """One user marked one item reviewed."""

    __tablename__ = "review_marks"

    item_id: Mapped[int] = mapped_column(
        ForeignKey("review_items.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    reviewed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
