"""Live view: the camera grids each user saved (issue 17)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from vigil.store.base import Base, UTCDateTime, utcnow


class LiveLayout(Base):
    """A named grid (1, 4, 9 or 16 tiles) and the camera in each tile (None: empty tile), in
    reading order. Each user sees and changes only their own; gone with the user."""

    __tablename__ = "live_layouts"
    __table_args__ = (UniqueConstraint("user_id", "name", name="uq_live_layouts_user_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    grid: Mapped[int] = mapped_column(default=4)  # tiles: 1, 4, 9 or 16
    cameras: Mapped[list[str | None]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
