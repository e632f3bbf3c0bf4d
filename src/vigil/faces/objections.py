"""Objections to recognition: the one rule that says whether a face is an objector's.

A face is an objector's when its template scores at least `objection_threshold(match
threshold)` against the template of an objection: `OBJECTION_MARGIN` below the match
threshold, so a face is withheld a little before it would have been named (decision 0063).
An enrolled person one of whose templates does so is an objector too: the objection wins over
the enrolment, whichever photo later probes come closer to. The site's matcher, photo search,
the unknown-face search and enrolment all ask this module; the hub's search uses the same
threshold over its own copies (`vigil.hub.search`).

An objection keeps one template of the active model, who recorded it, when, why and an
optional reference the person can quote; never the photo, never a name (`store.models.
objections`). Objections from other sites arrive through the hub (`origin_site`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from vigil.errors import InputError
from vigil.store.db import Database, rowcount
from vigil.store.models import Person, Template, UnknownFace
from vigil.store.models.objections import Objection

OBJECTION_MARGIN = 0.05  # cosine below the match threshold where an objection already holds
MIN_REASON = 3


def objection_threshold(match_threshold: float) -> float:
    return match_threshold - OBJECTION_MARGIN


def templates(blobs: Sequence[bytes]) -> np.ndarray:
    """Stored templates (float32 bytes) as one matrix, a row each (0 x 0 when none)."""
    if not blobs:
        return np.zeros((0, 0), np.float32)
    return np.stack([np.frombuffer(b, np.float32) for b in blobs])


class ObjectionGuard:
    """The objections' templates of one model, asked whether faces are objectors'."""

    def __init__(self, vectors: np.ndarray, threshold: float) -> None:
        vectors = np.asarray(vectors, np.float32)
        self.vectors = vectors.reshape(len(vectors), -1) if len(vectors) else vectors
        self.threshold = threshold

    @classmethod
    def from_blobs(cls, blobs: Sequence[bytes], threshold: float) -> ObjectionGuard:
        """From stored templates (float32 bytes, as the tables keep them)."""
        return cls(templates(blobs), threshold)

    def __len__(self) -> int:
        return len(self.vectors)

    def scores(self, probes: np.ndarray | list[np.ndarray]) -> np.ndarray:
        """Each probe's best score against any objection (-1 when there is none)."""
        q = np.atleast_2d(np.asarray(probes, np.float32))
        if not len(self.vectors) or not len(q):
            return np.full(len(q), -1.0, np.float32)
        if q.shape[1] != self.vectors.shape[1]:
            raise InputError(
                f"the face template has {q.shape[1]} values, the objections' "
                f"{self.vectors.shape[1]}"
            )
        return (q @ self.vectors.T).max(axis=1)

    def blocks(self, probes: np.ndarray | list[np.ndarray]) -> np.ndarray:
        """True for each probe that is an objector's face."""
        return self.scores(probes) >= self.threshold

    def blocks_one(self, probe: np.ndarray) -> bool:
        return bool(self.blocks(probe[None, :])[0])


def load_guard(s: Session, model: str, threshold: float) -> ObjectionGuard:
    rows = s.scalars(select(Objection.embedding).where(Objection.model == model)).all()
    return ObjectionGuard.from_blobs(rows, threshold)


def guard(db: Database, model: str, match_threshold: float) -> ObjectionGuard:
    """The objections of `model` at this site, at the objection threshold of `match_threshold`."""
    with db.session() as s:
        return load_guard(s, model, objection_threshold(match_threshold))


def objector_people(s: Session, g: ObjectionGuard, model: str) -> set[int]:
    """Enrolled people one of whose templates is an objector's face."""
    if not len(g):
        return set()
    rows = s.execute(
        select(Template.person_id, Template.embedding).where(Template.model == model)
    ).all()
    if not rows:
        return set()
    hit = g.blocks(templates([r.embedding for r in rows]))
    return {r.person_id for r, h in zip(rows, hit, strict=True) if h}


@dataclass(frozen=True)
class ObjectionSummary:
    uid: str
    model: str
    reason: str
    reference: str
    recorded_by: str
    recorded_at: datetime
    origin_site: str | None  # None: recorded at this site


def summary(o: Objection) -> ObjectionSummary:
    return ObjectionSummary(
        o.uid, o.model, o.reason, o.reference, o.recorded_by, o.recorded_at, o.origin_site
    )


def stated_reason(reason: str) -> str:
    reason = reason.strip()
    if len(reason) < MIN_REASON:
        raise InputError(
            "an objection needs a stated reason (at least 3 characters)",
            hint="e.g. --reason 'objected in person at reception, ID not required'",
        )
    return reason


def add_objection(
    s: Session,
    embedding: np.ndarray,
    *,
    model: str,
    reason: str,
    recorded_by: str,
    reference: str = "",
    uid: str | None = None,
    recorded_at: datetime | None = None,
    origin_site: str | None = None,
) -> tuple[Objection, bool]:
    """Store an objection in the caller's transaction; (row, whether it is new). Idempotent by
    `uid` (a push from the hub repeated)."""
    if uid is not None:
        have = s.scalar(select(Objection).where(Objection.uid == uid))
        if have is not None:
            return have, False
    vec = np.asarray(embedding, np.float32).ravel()
    vec = vec / (np.linalg.norm(vec) or 1.0)
    row = Objection(
        uid=uid or str(uuid.uuid4()),
        embedding=vec.astype(np.float32).tobytes(),
        model=model,
        reason=stated_reason(reason),
        reference=reference.strip()[:200],
        recorded_by=recorded_by,
        recorded_at=recorded_at or datetime.now(UTC),
        origin_site=origin_site,
    )
    s.add(row)
    s.flush()
    return row, True


def purge_matching_unknown(s: Session, g: ObjectionGuard, model: str) -> int:
    """Delete the unknown-face templates that are objectors' faces; returns how many."""
    if not len(g):
        return 0
    rows = s.execute(
        select(UnknownFace.id, UnknownFace.embedding).where(UnknownFace.model == model)
    ).all()
    if not rows:
        return 0
    hit = g.blocks(templates([r.embedding for r in rows]))
    ids = [r.id for r, h in zip(rows, hit, strict=True) if h]
    if not ids:
        return 0
    return rowcount(s.execute(delete(UnknownFace).where(UnknownFace.id.in_(ids))))


def list_objections(db: Database) -> list[ObjectionSummary]:
    with db.session() as s:
        return [summary(o) for o in s.scalars(select(Objection).order_by(Objection.id))]


def matching_objections(
    db: Database, probe: np.ndarray, *, model: str, match_threshold: float
) -> list[ObjectionSummary]:
    """The objections the face `probe` is covered by (a subject-access request finds them)."""
    with db.session() as s:
        rows = list(s.scalars(select(Objection).where(Objection.model == model)))
        if not rows:
            return []
        vecs = templates([o.embedding for o in rows])
        hit = vecs @ np.asarray(probe, np.float32).ravel() >= objection_threshold(match_threshold)
        return [summary(o) for o, h in zip(rows, hit, strict=True) if h]


def fingerprint(s: Session) -> tuple[int, int]:
    """(count, highest id) of the objections: a cached matcher reloads when it changes."""
    count, top = s.execute(select(func.count(Objection.id), func.max(Objection.id))).one()
    return int(count or 0), int(top or 0)


@dataclass(frozen=True)
class RecordedObjection:
    objection: ObjectionSummary
    unknown_deleted: int  # unknown-face templates of this face, deleted
    enrolled: list[str]  # enrolled people this face is: no longer identified

    def audit_details(self) -> dict[str, object]:
        """What the `objection_recorded` record says (no name: the objection is anonymous)."""
        o = self.objection
        return {
            "reference": o.reference,
            "model": o.model,
            "unknown_faces_deleted": self.unknown_deleted,
            "enrolled_withheld": len(self.enrolled),
        }


ObjectionAudit = Callable[[Session, RecordedObjection], None]  # the audit record, same transaction


def record_objection(
    db: Database,
    embedding: np.ndarray,
    *,
    model: str,
    match_threshold: float,
    reason: str,
    recorded_by: str,
    reference: str = "",
    audit: ObjectionAudit | None = None,
) -> RecordedObjection:
    """Record an objection from the face template of a photo, in one transaction with its
    audit record: from then on the face is never identified, its unknown-face templates are
    gone, and an enrolled person it matches is withheld too (see the module docstring)."""
    reason = stated_reason(reason)
    with db.session() as s:
        row, _ = add_objection(
            s, embedding, model=model, reason=reason, recorded_by=recorded_by, reference=reference
        )
        mine = ObjectionGuard(
            np.frombuffer(row.embedding, np.float32)[None, :], objection_threshold(match_threshold)
        )
        deleted = purge_matching_unknown(s, mine, model)
        people = objector_people(s, mine, model)
        names = sorted(s.scalars(select(Person.name).where(Person.id.in_(people))))
        result = RecordedObjection(summary(row), deleted, names)
        if audit is not None:
            audit(s, result)
        return result
