"""Pairs labelled by people: a face seen on camera and the enrolled person it matched.

A match that waits for verification keeps its probe template here with the person (label
NULL); the verdict labels it: 1 confirmed (same person), 0 rejected (not that person). The
calibration fit (`vigil eval pairs --with-verified`) adds these pairs to the operator's own
(`verified_scores`). A pair goes with its person (foreign key, on delete cascade).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil.store.base import utcnow
from vigil.store.db import Database
from vigil.store.models.faces import Template, VerifiedPair

REJECTED = "rejected match"
CONFIRMED = "confirmed match"


@dataclass(frozen=True)
class Probe:
    """The face template that produced a match, and the model that made it."""

    model: str
    embedding: bytes  # float32, L2-normalised

    @classmethod
    def of(cls, model: str, vector: np.ndarray) -> Probe:
        return cls(model, np.asarray(vector, np.float32).tobytes())


def keep_probe(s: Session, event_uid: str, person_id: int, probe: Probe) -> None:
    """Keep a pending match's probe (once per event), inside the event store's transaction."""
    if s.scalar(select(VerifiedPair.id).where(VerifiedPair.event_uid == event_uid)) is None:
        s.add(
            VerifiedPair(
                event_uid=event_uid,
                person_id=person_id,
                model=probe.model,
                embedding=probe.embedding,
            )
        )


def label_pair(s: Session, event_uid: str, same: bool) -> bool:
    """Label the event's pair from a verdict; False when the event kept no probe."""
    pair = s.scalar(select(VerifiedPair).where(VerifiedPair.event_uid == event_uid))
    if pair is None:
        return False
    pair.label = 1 if same else 0
    pair.source = CONFIRMED if same else REJECTED
    pair.labelled_at = utcnow()
    return True


def verified_scores(db: Database, model: str) -> tuple[np.ndarray, np.ndarray]:
    """(scores, same) of the labelled pairs of `model`: each probe's best similarity to its
    person's templates of that model, as the matcher scores it. Pairs whose person has no
    template of the model left are skipped."""
    with db.session() as s:
        pairs = list(
            s.scalars(
                select(VerifiedPair)
                .where(VerifiedPair.model == model, VerifiedPair.label.is_not(None))
                .order_by(VerifiedPair.id)
            )
        )
        people = {p.person_id for p in pairs}
        templates: dict[int, list[np.ndarray]] = {}
        rows = s.execute(
            select(Template.person_id, Template.embedding).where(
                Template.model == model, Template.person_id.in_(people)
            )
        )
        for person_id, emb in rows:
            templates.setdefault(person_id, []).append(np.frombuffer(emb, np.float32))
    scores, same = [], []
    for p in pairs:
        mine = templates.get(p.person_id)
        if not mine:
            continue
        probe = np.frombuffer(p.embedding, np.float32)
        scores.append(float((np.stack(mine) @ probe).max()))
        same.append(p.label == 1)
    return np.array(scores, dtype=np.float64), np.array(same, dtype=bool)
