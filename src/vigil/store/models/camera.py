"""Recorded footage index and motion events."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Index, String, Text, UniqueConstraint
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
    # SHA-256 (hex) of the file as written, hashed while writing; None before it closes
    # (and for footage recorded before checksums, until the scrub takes one).
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True, default=None)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class SegmentProblem(Base):
    """Footage that was lost after it was recorded: a segment whose file is gone (`missing`)
    or no longer matches its checksum (`damaged`). Kept, also after retention or repair drop
    the segment's row, until an operator acknowledges it (`vigil segments ack`, audited)."""

    __tablename__ = "segment_problems"
    __table_args__ = (
        UniqueConstraint("path", "kind", name="uq_segment_problems_path_kind"),
        Index("ix_segment_problems_camera_start", "camera", "start"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    camera: Mapped[str] = mapped_column(String(100))
    path: Mapped[str] = mapped_column(Text)  # the segment's path in the recordings folder
    start: Mapped[datetime] = mapped_column(UTCDateTime)
    end: Mapped[datetime] = mapped_column(UTCDateTime)
    kind: Mapped[str] = mapped_column(String(20))  # "missing" or "damaged"
    detail: Mapped[str] = mapped_column(Text, default="")
    found_at: Mapped[datetime] = mapped_column(UTCDateTime)
    found_by: Mapped[str] = mapped_column(String(50), default="")  # retention, scrub, export...
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    acknowledged_by: Mapped[str] = mapped_column(String(200), default="")
    note: Mapped[str] = mapped_column(Text, default="")  # the operator's, when acknowledging


class MotionEvent(Base):
    __tablename__ = "motion_events"
    __table_args__ = (Index("ix_motion_events_camera_start", "camera", "start"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    camera: Mapped[str] = mapped_column(String(100))
    start: Mapped[datetime] = mapped_column(UTCDateTime)
    end: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    peak_area: Mapped[float] = mapped_column(default=0.0)  # share of the unmasked frame, 0..1
