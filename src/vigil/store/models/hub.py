"""Edge-to-hub sync: the edge's publish cursors, and the hub's copies of every site's data.

The hub tables key each row by what the edge made unique (an event's `uid`, an audit record's
`(site, seq)`), so a message delivered twice after a reconnect is stored once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from vigil.store.base import Base, UTCDateTime, utcnow
from vigil.store.models.events import WatchAction
from vigil.store.models.faces import LegalBasis


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
    # the hub person (`HubPerson.uid`) the site recognised, when it was one pushed by the hub
    person_uid: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    # the site's sync_version of the copy stored here: a message applies only if newer
    version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class SyncCounter(Base):
    """Edge: one row (id 1), the last sync version handed out; database triggers on `events`
    (0014) bump it on every insert, update and delete."""

    __tablename__ = "sync_counter"

    id: Mapped[int] = mapped_column(primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)


class SyncTombstone(Base):
    """Edge: an event deleted (retention, erasure) that the hub must delete too; written by a
    trigger on `events`, removed once published."""

    __tablename__ = "sync_tombstones"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    uid: Mapped[str] = mapped_column(String(36))
    camera: Mapped[str] = mapped_column(String(100))


class HubEventTombstone(Base):
    """Hub: an event its site deleted, kept so a late or redelivered older copy is not
    stored again."""

    __tablename__ = "hub_event_tombstones"

    site: Mapped[str] = mapped_column(String(64), primary_key=True)
    uid: Mapped[str] = mapped_column(String(36), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    deleted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


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


class HubAuditHead(Base):
    """A site's signed audit head (a checkpoint) as the hub received it (0065), in arrival
    order (`id`). A site that resends a seq with another hash gets a second row: that is the
    evidence. `problem` is "" when the signature checked out with the site's pinned key."""

    __tablename__ = "hub_audit_heads"
    __table_args__ = (UniqueConstraint("site", "seq", "hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site: Mapped[str] = mapped_column(String(64), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))
    time: Mapped[datetime] = mapped_column(UTCDateTime)  # when the site signed it
    signature: Mapped[str] = mapped_column(String(128))
    key_id: Mapped[str] = mapped_column(String(32))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    problem: Mapped[str] = mapped_column(Text, default="")


class HubSiteKey(Base):
    """A site's audit signing key, pinned by the hub from the first head that carried it."""

    __tablename__ = "hub_site_keys"

    site: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    public_key: Mapped[str] = mapped_column(Text)  # PEM
    pinned_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# --- the hub's gallery (0011_hub_search): people enrolled at the hub and pushed to sites ---


class HubPerson(Base):
    """A person enrolled at the hub. `uid` names them on every site they are pushed to."""

    __tablename__ = "hub_people"

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(36), unique=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    legal_basis: Mapped[LegalBasis] = mapped_column(Enum(LegalBasis, native_enum=False, length=32))
    legal_basis_note: Mapped[str] = mapped_column(Text, default="")
    enrolled_by: Mapped[str] = mapped_column(String(200))
    enrolled_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    review_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    templates: Mapped[list[HubTemplate]] = relationship(
        back_populates="person", cascade="all, delete-orphan", passive_deletes=True
    )


class HubTemplate(Base):
    """One face template at the hub. `embedding` is float32 bytes on every database; on
    PostgreSQL the migration adds `vec vector(128)` (not mapped here, written by
    `vigil.hub.search`) with an HNSW index for cosine search."""

    __tablename__ = "hub_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(
        ForeignKey("hub_people.id", ondelete="CASCADE"), index=True
    )
    embedding: Mapped[bytes] = mapped_column(LargeBinary)  # float32, L2-normalised
    model: Mapped[str] = mapped_column(String(100))
    image_sha256: Mapped[str] = mapped_column(String(64))
    quality: Mapped[float]
    enrolled_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    person: Mapped[HubPerson] = relationship(back_populates="templates")


class HubWatchlist(Base):
    """A watchlist at the hub: its members are pushed to the sites it names, and nowhere else."""

    __tablename__ = "hub_watchlists"

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(36), unique=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    action: Mapped[WatchAction] = mapped_column(Enum(WatchAction, native_enum=False, length=16))
    notes: Mapped[str] = mapped_column(Text, default="")
    # people who confirm a match at a site before it is acted on; NULL: the site's default
    confirmations_required: Mapped[int | None] = mapped_column(nullable=True)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class HubWatchlistSite(Base):
    __tablename__ = "hub_watchlist_sites"

    watchlist_id: Mapped[int] = mapped_column(
        ForeignKey("hub_watchlists.id", ondelete="CASCADE"), primary_key=True
    )
    site: Mapped[str] = mapped_column(String(64), primary_key=True)


class HubWatchlistMember(Base):
    __tablename__ = "hub_watchlist_members"

    watchlist_id: Mapped[int] = mapped_column(
        ForeignKey("hub_watchlists.id", ondelete="CASCADE"), primary_key=True
    )
    person_id: Mapped[int] = mapped_column(
        ForeignKey("hub_people.id", ondelete="CASCADE"), primary_key=True, index=True
    )


# --- pushes to sites (0012_hub_push) ---


class HubPlacement(Base):
    """What the hub has sent (or queued) to a site: a person or watchlist by uid. The
    difference between this and what the watchlists ask for is what gets pushed next.

    A person the site deleted on its own (0016, learnt from the site's audit records) keeps
    its row with `removed_at` set: not held there, and not sent again until re-enrolled."""

    __tablename__ = "hub_placements"

    site: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)  # person | watchlist
    uid: Mapped[str] = mapped_column(String(36), primary_key=True)
    # the person's id in the site's database (from the site's audit record of the push)
    site_person_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    removed_seq: Mapped[int | None] = mapped_column(Integer, nullable=True)  # site audit seq


class HubPush(Base):
    """One command waiting for a site (`vigil.<site>.cmd.<verb>`). A newer push of the same
    (site, uid) replaces an older undone one, so a site that was away gets the last state."""

    __tablename__ = "hub_pushes"
    __table_args__ = (Index("ix_hub_pushes_site_done", "site", "done_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)  # order of sending per site
    site: Mapped[str] = mapped_column(String(64))
    verb: Mapped[str] = mapped_column(String(32))
    uid: Mapped[str] = mapped_column(String(36))
    body: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
