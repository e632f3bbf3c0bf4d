"""Unknown faces seen on camera: kept only where the site opted in (`privacy.
unknown_face_retention_days`, with a stated purpose) and briefly, searchable with a reason,
never identities; never an objector's (`faces.objections`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import delete, select

from vigil.store.db import Database, rowcount
from vigil.store.models import UnknownFace


@dataclass(frozen=True)
class Sighting:
    event_uid: str
    camera: str
    seen_at: datetime
    score: float


def add_unknown(
    db: Database,
    *,
    event_uid: str,
    camera: str,
    seen_at: datetime,
    embedding: np.ndarray,
    model: str,
) -> None:
    with db.session() as s:
        s.add(
            UnknownFace(
                event_uid=event_uid,
                camera=camera,
                seen_at=seen_at,
                embedding=np.asarray(embedding, np.float32).tobytes(),
                model=model,
            )
        )


def search_unknown(
    db: Database, probe: np.ndarray, *, model: str, threshold: float, since: datetime | None = None
) -> list[Sighting]:
    """Sightings of unknown faces that score at least `threshold` against the probe, best first."""
    query = select(UnknownFace).where(UnknownFace.model == model)
    if since is not None:
        query = query.where(UnknownFace.seen_at >= since)
    with db.session() as s:
        rows = s.scalars(query).all()
    if not rows:
        return []
    scores = np.stack([np.frombuffer(r.embedding, np.float32) for r in rows]) @ probe
    hits = [
        Sighting(r.event_uid, r.camera, r.seen_at, float(sc))
        for r, sc in zip(rows, scores, strict=True)
        if sc >= threshold
    ]
    return sorted(hits, key=lambda h: h.score, reverse=True)


def purge_unknown(db: Database, older_than: datetime) -> int:
    """Delete unknown-face templates seen before `older_than`; returns how many."""
    with db.session() as s:
        result = s.execute(delete(UnknownFace).where(UnknownFace.seen_at < older_than))
        return rowcount(result)
