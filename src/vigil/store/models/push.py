"""Web Push subscriptions: a browser or phone a user enabled notifications on.

One row per push endpoint (the URL the browser's push service gave it, unique): its keys for
encrypting to it (`p256dh`, `auth`, base64url as the browser reports them), whose device it is
(the row goes with the user), and what it asked for: `alerts` (events that are alerts, with
the person's name only where the user's role may see identities), `reviews` (each new review
item), on `cameras` (empty: every camera). The dispatcher deletes a row whose push service
answers 404 or 410 (the browser unsubscribed or the phone was reset).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from vigil.store.base import Base, UTCDateTime, utcnow


class PushSubscription(Base):
    __tablename__ = "push_subscriptions"
    # Ids are outbox targets: never handed out twice, even on SQLite.
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    endpoint: Mapped[str] = mapped_column(Text, unique=True)
    p256dh: Mapped[str] = mapped_column(String(200))
    auth: Mapped[str] = mapped_column(String(100))
    alerts: Mapped[bool] = mapped_column(default=True)
    reviews: Mapped[bool] = mapped_column(default=False)
    cameras: Mapped[list[str]] = mapped_column(JSON, default=list)  # empty: every camera
    label: Mapped[str] = mapped_column(String(200), default="")  # e.g. the browser's name
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
