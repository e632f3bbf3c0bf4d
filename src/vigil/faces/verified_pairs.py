"""Pairs labelled by people: a face seen on camera and the enrolled person it matched.

A match that waits for verification keeps its score here with the person and the model (label
NULL); the verdict labels it: 1 confirmed (same person), 0 rejected (not that person). The
calibration fit (`vigil eval pairs --with-verified`) adds these pairs to the operator's own
(`verified_scores`). Only the score is kept, never the face template: a rejected match is a
stranger, and no template of a face that matches nobody is kept by default (0063). A pair
goes with its person (foreign key, on delete cascade).
"""

from __future__ import annotations

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil.store.base import utcnow
from vigil.store.db import Database
from vigil.store.models.faces import VerifiedPair

REJECTED = "rejected match"
CONFIRMED = "confirmed match"


def keep_pair(s: Session, event_uid: str, person_id: int, model: str, score: float) -> None:
    """Keep (or, while unlabelled, update to the event's best match) a pending match's pair,
    inside the event store's transaction."""
    pair = s.scalar(select(VerifiedPair).where(VerifiedPair.event_uid == event_uid))
    if pair is None:
        s.add(VerifiedPair(event_uid=event_uid, person_id=person_id, model=model, score=score))
    elif pair.label is None:
        pair.person_id, pair.model, pair.score = person_id, model, score


def label_pair(s: Session, event_uid: str, same: bool) -> bool:
    """Label the event's pair from a verdict; False when the event kept none."""
    pair = s.scalar(select(VerifiedPair).where(VerifiedPair.event_uid == event_uid))
    if pair is None:
        return False
    pair.label = 1 if same else 0
    pair.source = CONFIRMED if same else REJECTED
    pair.labelled_at = utcnow()
    return True


def verified_scores(db: Database, model: str) -> tuple[np.ndarray, np.ndarray]:
    """(scores, same) of the labelled pairs of `model`, in the order they were stored."""
    with db.session() as s:
        rows = s.execute(
            select(VerifiedPair.score, VerifiedPair.label)
            .where(VerifiedPair.model == model, VerifiedPair.label.is_not(None))
            .order_by(VerifiedPair.id)
        ).all()
    return (
        np.array([r.score for r in rows], dtype=np.float64),
        np.array([r.label == 1 for r in rows], dtype=bool),
    )
