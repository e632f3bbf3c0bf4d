"""Enrolled people and their face templates (biometric data: special-category personal data)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Enum, ForeignKey, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from vigil.store.base import Base, UTCDateTime, utcnow
from vigil.store.enums import LegalBasis


class Person(Base):
    __tablename__ = "people"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200))
    # set when the hub pushed this person (`vigil.sync.site_gallery`); NULL: enrolled here
    hub_uid: Mapped[str | None] = mapped_column(String(36), nullable=True, unique=True, index=True)

    templates: Mapped[list[Template]] = relationship(
        back_populates="person", cascade="all, delete-orphan", passive_deletes=True
    )


class Template(Base):
    """One face embedding of a person, with where it came from and why it may be kept."""

    __tablename__ = "face_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    embedding: Mapped[bytes] = mapped_column(LargeBinary)  # float32, L2-normalised
    model: Mapped[str] = mapped_column(String(100))  # embeddings of different models never mix
    image_sha256: Mapped[str] = mapped_column(String(64))
    quality: Mapped[float]
    legal_basis: Mapped[LegalBasis] = mapped_column(Enum(LegalBasis, native_enum=False, length=32))
    legal_basis_note: Mapped[str] = mapped_column(Text, default="")
    enrolled_by: Mapped[str] = mapped_column(String(200))
    enrolled_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    review_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    person: Mapped[Person] = relationship(back_populates="templates")


class UnknownFace(Base):
    """The template of a face seen on camera that matched nobody enrolled.

    Never an identity: no name, no link between sightings. Kept only when the site opted in,
    for the unknown-face retention period, so an operator can ask "where else was this face
    recently?" (audited); never for an objector's face.
    """

    __tablename__ = "unknown_faces"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_uid: Mapped[str] = mapped_column(String(36), index=True)
    camera: Mapped[str] = mapped_column(String(100))
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    embedding: Mapped[bytes] = mapped_column(LargeBinary)  # float32, L2-normalised
    model: Mapped[str] = mapped_column(String(100))


class VerifiedPair(Base):
    """A face seen on camera and the enrolled person it matched, labelled by people.

    Stored (label NULL) when a match waits for verification; labelled 1 when confirmed, 0 when
    rejected. `vigil eval pairs --with-verified` adds these pairs to the calibration fit.
    """

    __tablename__ = "verified_pairs"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_uid: Mapped[str] = mapped_column(String(36), unique=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    model: Mapped[str] = mapped_column(String(100))
    score: Mapped[float]  # the match's similarity; never the face template (0062)
    label: Mapped[int | None] = mapped_column(nullable=True)  # 1 same person, 0 not; NULL: open
    source: Mapped[str] = mapped_column(String(100), default="")  # "rejected match", ...
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    labelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
