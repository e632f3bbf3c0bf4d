"""Edge-to-hub sync: the edge's publish cursors, and the hub's copies of every site's data.

The hub tables key each row by what the edge made unique (an event's `uid`, an audit record's
`(site, seq)`), so a message delivered twice after a reconnect is stored once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from vigil.store.base import Base, UTCDateTime, utcnow


class SyncCursor(Base):
    """Edge: the last row of a table (events by id, audit by seq) acked by the local stream."""

    __tablename__ = "sync_cursors"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class HubSite(Base):
    __tablename__ = "hub_sites"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    backlog: Mapped[int] = mapped_column(Integer, default=0)  # messages the hub has not stored


class HubEvent(Base):
    __tablename__ = "hub_events"
    __table_args__ = (Index("ix_hub_events_site_camera_start", "site", "camera", "start"),)

    id: Mapped[int] = mapped_column(primary_key=True)  # arrival order at the hub
    uid: Mapped[str] = mapped_column(String(36), unique=True)
    site: Mapped[str] = mapped_column(String(64))
    edge_id: Mapped[int] = mapped_column(Integer)  # the event's id in the site's database
    camera: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(32))
    start: Mapped[datetime] = mapped_column(UTCDateTime)
    end: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    score: Mapped[float | None] = mapped_column(nullable=True)
    confidence: Mapped[float | None] = mapped_column(nullable=True)
    zone: Mapped[str | None] = mapped_column(String(100), nullable=True)
    thumbnail: Mapped[str | None] = mapped_column(String(300), nullable=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class HubCameraStatus(Base):
    __tablename__ = "hub_camera_status"

    site: Mapped[str] = mapped_column(String(64), primary_key=True)
    camera: Mapped[str] = mapped_column(String(100), primary_key=True)
    status: Mapped[str] = mapped_column(String(50))
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class HubAuditRecord(Base):
    __tablename__ = "hub_audit_records"

    site: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    time: Mapped[datetime] = mapped_column(UTCDateTime)
    hash: Mapped[str] = mapped_column(String(64))
    record: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
