"""The recognition log's periods: when live face recognition ran on a camera, and against what.

One row per period (AI Act Art. 12(3)): start and end, the reference database checked (a
SHA-256 of the gallery and watchlists, with their sizes), the model and match threshold in
force. Its start and end are also audit records (`recognition_start`/`recognition_stop`,
their seqs kept here), so the table cannot be rewritten without the chain showing it.
Matches are audit records only (`recognition_match`). Kept as long as the audit log.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from vigil.store.base import Base, UTCDateTime


class RecognitionPeriod(Base):
    __tablename__ = "recognition_periods"
    __table_args__ = (
        Index("ix_recognition_periods_camera_started_at", "camera", "started_at"),
        Index("ix_recognition_periods_ended_at", "ended_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    camera: Mapped[str] = mapped_column(String(100))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)  # None: open
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)  # the newest heartbeat
    # stopped | restart (the process died: ended at its last heartbeat) | gallery_changed | error
    ended_by: Mapped[str] = mapped_column(String(40), default="")
    model: Mapped[str] = mapped_column(String(100))
    threshold: Mapped[float] = mapped_column(Float)
    gallery_hash: Mapped[str] = mapped_column(String(64))
    templates: Mapped[int] = mapped_column(Integer, default=0)
    people: Mapped[int] = mapped_column(Integer, default=0)
    watchlists: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    start_seq: Mapped[int | None] = mapped_column(Integer, nullable=True)  # audit record seqs
    stop_seq: Mapped[int | None] = mapped_column(Integer, nullable=True)
