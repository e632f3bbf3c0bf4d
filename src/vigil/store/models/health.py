"""Camera health: each camera's kept reference picture and its latest picture measures.

Which alarms are open is not kept here: it is the camera's `camera_*` events whose end is
NULL (`vigil.events.health`), so the events list and this summary never disagree.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from vigil.store.base import Base, UTCDateTime, utcnow


class CameraHealth(Base):
    __tablename__ = "camera_health"

    camera: Mapped[str] = mapped_column(String(100), primary_key=True)
    # JPEG of the kept reference (privacy masks burned in), relative to data_dir
    reference: Mapped[str | None] = mapped_column(Text, nullable=True)
    reference_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    measures: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # the newest frame's
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
