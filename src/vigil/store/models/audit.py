"""The audit log: an append-only hash chain of accesses to personal data, and signed checkpoints.

Rows are written only by `vigil.privacy.audit.AuditLog`. Database triggers (migration
0003_audit) refuse UPDATE and DELETE on both tables, so nothing, the app included, can edit or
remove them by accident. No foreign keys: a record must outlive the person or camera it names.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from vigil.store.base import Base, UTCDateTime


class AuditRecord(Base):
    __tablename__ = "audit_records"
    __table_args__ = (
        Index("ix_audit_records_time", "time"),
        Index("ix_audit_records_actor_time", "actor", "time"),
        Index("ix_audit_records_action_time", "action", "time"),
        Index("ix_audit_records_person_time", "person", "time"),
        Index("ix_audit_records_camera_time", "camera", "time"),
    )

    # 1, 2, 3, ... with no gaps; the primary key makes a forked chain impossible to store.
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    time: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(50), default="")
    action: Mapped[str] = mapped_column(String(40))
    target_kind: Mapped[str] = mapped_column(String(50), default="")
    target_id: Mapped[str] = mapped_column(String(500), default="")
    camera: Mapped[str | None] = mapped_column(String(100), nullable=True)
    person: Mapped[str | None] = mapped_column(String(200), nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(200), default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditCheckpoint(Base):
    """A signature by the site's Ed25519 key over (seq, hash of record seq, time)."""

    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, unique=True)
    hash: Mapped[str] = mapped_column(String(64))
    time: Mapped[datetime] = mapped_column(UTCDateTime)
    signature: Mapped[str] = mapped_column(String(128))  # hex, 64 bytes
    key_id: Mapped[str] = mapped_column(String(32))  # fingerprint of the public key


class AuditAnchor(Base):
    """Where the chain starts after audit retention deleted its oldest records (0010).

    `seq`/`hash` are the last deleted record, which a checkpoint had signed (its time,
    signature and key are copied here); the anchor itself is signed too, over what was removed.
    The delete triggers let through only records and checkpoints at or below the newest anchor.
    """

    __tablename__ = "audit_anchors"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, unique=True)  # last deleted record
    hash: Mapped[str] = mapped_column(String(64))  # its hash: record seq+1's prev_hash
    first_seq: Mapped[int] = mapped_column(Integer)  # first record this truncation deleted
    records_removed: Mapped[int] = mapped_column(Integer)
    checkpoints_removed: Mapped[int] = mapped_column(Integer)
    removed_from: Mapped[datetime] = mapped_column(UTCDateTime)  # time of the oldest deleted
    removed_to: Mapped[datetime] = mapped_column(UTCDateTime)  # time of the newest deleted
    time: Mapped[datetime] = mapped_column(UTCDateTime)  # when the truncation ran
    checkpoint_time: Mapped[datetime] = mapped_column(UTCDateTime)
    checkpoint_signature: Mapped[str] = mapped_column(String(128))
    checkpoint_key_id: Mapped[str] = mapped_column(String(32))
    signature: Mapped[str] = mapped_column(String(128))  # over the anchor's fields
    key_id: Mapped[str] = mapped_column(String(32))


class AuditWitnessed(Base):
    """A signed head (a checkpoint) handed to a witness off this machine (0065): the file,
    syslog, or the hub (once the hub acked it). `witness` names it, e.g. `file:/mnt/w/a.jsonl`.
    A note of what was sent, not the proof: the proof is the witness's own copy."""

    __tablename__ = "audit_witnessed"
    __table_args__ = (UniqueConstraint("witness", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    witness: Mapped[str] = mapped_column(String(300))
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))
    checkpoint_time: Mapped[datetime] = mapped_column(UTCDateTime)
    witnessed_at: Mapped[datetime] = mapped_column(UTCDateTime)
