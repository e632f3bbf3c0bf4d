"""Objections to recognition: the one template kept to honour each, at a site and at the hub.

An objection keeps what honouring it needs and nothing more: a face template of the active
model, when and by whom it was recorded, why, and an optional reference the person can quote.
No photo and no name. It is kept as long as the objection stands.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from vigil.store.base import Base, UTCDateTime, utcnow


class Objection(Base):
    """Site: a face that is never identified here (`vigil.faces.objections`)."""

    __tablename__ = "objections"

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(36), unique=True)  # the same at every site and hub
    embedding: Mapped[bytes] = mapped_column(LargeBinary)  # float32, L2-normalised
    model: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(Text)
    reference: Mapped[str] = mapped_column(String(200), default="")  # quoted by the person
    recorded_by: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # NULL: recorded at this site (and sent to the hub); else the site it came from, via the hub
    origin_site: Mapped[str | None] = mapped_column(String(64), nullable=True)


class HubObjection(Base):
    """Hub: an objection a site recorded, pushed to every other site (`objection.put`)."""

    __tablename__ = "hub_objections"

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(36), unique=True)
    site: Mapped[str] = mapped_column(String(64))  # where it was recorded
    embedding: Mapped[bytes] = mapped_column(LargeBinary)
    model: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(Text)
    reference: Mapped[str] = mapped_column(String(200), default="")
    recorded_by: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
