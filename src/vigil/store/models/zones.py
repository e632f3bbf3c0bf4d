"""Zone occupancy over time: counts of people per camera, zone and time bucket (no identities)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from vigil.store.base import Base, UTCDateTime


class ZoneOccupancy(Base):
    """People inside one zone of one camera during one bucket [start, start + bucket_s):
    the most at once, the mean over the `seconds` analysed, and the count at the newest
    analysed frame (`now_people`, at `updated_at`). Written while the bucket is open, so the
    newest row of a zone is its live count. Counts only: deleted with the camera's events."""

    __tablename__ = "zone_occupancy"
    __table_args__ = (
        UniqueConstraint("camera", "zone", "start", name="uq_zone_occupancy_camera_zone_start"),
        Index("ix_zone_occupancy_camera_start", "camera", "start"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    camera: Mapped[str] = mapped_column(String(100))
    zone: Mapped[str] = mapped_column(String(100))
    start: Mapped[datetime] = mapped_column(UTCDateTime)
    bucket_s: Mapped[int] = mapped_column(default=60)
    seconds: Mapped[float] = mapped_column(default=0.0)  # analysed time inside the bucket
    max_people: Mapped[int] = mapped_column(default=0)
    mean_people: Mapped[float] = mapped_column(default=0.0)
    now_people: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
