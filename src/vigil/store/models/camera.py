"""Recorded footage index and motion events."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from vigil.store.base import Base, UTCDateTime


class Segment(Base):
    """One fragmented-MP4 file of one camera, covering [start, end) in wall-clock UTC."""

    __tablename__ = "segments"
    __table_args__ = (Index("ix_segments_camera_start", "camera", "start"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    camera: Mapped[str] = mapped_column(String(100))
    start: Mapped[datetime] = mapped_column(UTCDateTime)
    end: Mapped[datetime] = mapped_column(UTCDateTime)
    path: Mapped[str] = mapped_column(Text, unique=True)  # relative to the recordings folder
    size_bytes: Mapped[int] = mapped_column(default=0)
    # Offsets (seconds from start) of keyframes, for keyframe-aligned export and seeking.
    keyframes: Mapped[list[float]] = mapped_column(JSON, default=list)
    complete: Mapped[bool] = mapped_column(default=False)  # False while being written
    # Evidence hold: never deleted by retention while locked_until is in the future.
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    lock_reason: Mapped[str] = mapped_column(Text, default="")
    lock_owner: Mapped[str] = mapped_column(String(200), default="")


class MotionEvent(Base):
    __tablename__ = "motion_events"
    __table_args__ = (Index("ix_motion_events_camera_start", "camera", "start"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    camera: Mapped[str] = mapped_column(String(100))
    start: Mapped[datetime] = mapped_column(UTCDateTime)
    end: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    peak_area: Mapped[float] = mapped_column(default=0.0)  # share of the unmasked frame, 0..1
