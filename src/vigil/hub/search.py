"""Search by photo across every site: open-set identification against the hub's templates,
then that person's events at every site; refused without a reason, audited with its outcome.
A face covered by an objection any site recorded (`hub_objections`), or whose best person is
covered by one, is never named (`faces.objections`: the same threshold as at the sites).

On PostgreSQL the templates' `vec vector(128)` column has an HNSW index (cosine);
`hnsw.ef_search` is set per query. On SQLite the templates are matched exactly with numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from vigil.errors import InputError
from vigil.faces.calibration import Calibration
from vigil.faces.objections import ObjectionGuard, objection_threshold, templates
from vigil.hub.actor import Actor, need_reason
from vigil.privacy.audit import Action, AuditLog
from vigil.store.db import Database
from vigil.store.models.hub import (
    HubEvent,
    HubPerson,
    HubTemplate,
)
from vigil.store.models.objections import HubObjection

VECTOR_DIM = 128  # the pgvector column's size (SFace); other sizes are searched exactly


def vector_literal(v: np.ndarray) -> str:
    return "[" + ",".join(f"{x:.7g}" for x in np.asarray(v, np.float32).ravel()) + "]"


def is_pg(s: Session) -> bool:
    return s.get_bind().dialect.name == "postgresql"


@dataclass(frozen=True)
class HubMatch:
    person_uid: str | None  # None: unknown (below the threshold): no name is given
    name: str | None
    score: float
    confidence: float
    threshold: float
    objected: bool = False  # covered by an objection: no name, no figures

    @property
    def known(self) -> bool:
        return self.person_uid is not None


@dataclass(frozen=True)
class HubSearchResult:
    match: HubMatch
    events: list[HubEvent]
    method: str  # "hnsw" (PostgreSQL + pgvector) or "exact" (numpy)


def nearest_templates(
    s: Session, probe: np.ndarray, *, model: str, k: int = 10, ef_search: int = 200
) -> tuple[list[tuple[int, float]], str]:
    """[(hub person id, cosine similarity)] of the `k` nearest templates of `model`, best first."""
    probe = np.asarray(probe, np.float32).ravel()
    probe = probe / (np.linalg.norm(probe) or 1.0)
    if is_pg(s) and probe.size == VECTOR_DIM:
        s.execute(text(f"SET LOCAL hnsw.ef_search = {int(ef_search)}"))
        rows = s.execute(
            text(
                "SELECT person_id, 1 - (vec <=> CAST(:q AS vector)) AS score FROM hub_templates "
                "WHERE model = :model AND vec IS NOT NULL "
                "ORDER BY vec <=> CAST(:q AS vector) LIMIT :k"
            ),
            {"q": vector_literal(probe), "model": model, "k": k},
        ).all()
        return [(int(pid), float(score)) for pid, score in rows], "hnsw"
    rows = s.execute(
        select(HubTemplate.person_id, HubTemplate.embedding).where(HubTemplate.model == model)
    ).all()
    if not rows:
        return [], "exact"
    vectors = np.stack([np.frombuffer(r.embedding, np.float32) for r in rows])
    if vectors.shape[1] != probe.size:
        raise InputError(
            f"the photo's template has {probe.size} values, the hub's {vectors.shape[1]}"
        )
    scores = vectors @ probe
    top = np.argsort(-scores)[:k]
    return [(int(rows[i].person_id), float(scores[i])) for i in top], "exact"


def hub_guard(s: Session, model: str, match_threshold: float) -> ObjectionGuard:
    """Every site's objections of `model`, as the hub holds them."""
    rows = s.scalars(select(HubObjection.embedding).where(HubObjection.model == model)).all()
    return ObjectionGuard.from_blobs(rows, objection_threshold(match_threshold))


def _objected(s: Session, guard: ObjectionGuard, probe: np.ndarray, person_id: int | None) -> bool:
    """The probe is an objector's face, or its best person's templates are."""
    if not len(guard):
        return False
    if guard.blocks_one(np.asarray(probe, np.float32).ravel()):
        return True
    if person_id is None:
        return False
    mine = s.scalars(select(HubTemplate.embedding).where(HubTemplate.person_id == person_id)).all()
    return bool(mine) and bool(guard.blocks(templates(mine)).any())


def search_across_sites(
    db: Database,
    embedding: np.ndarray,
    *,
    who: Actor,
    reason: str,
    audit: AuditLog,
    calibration: Calibration,
    limit: int = 50,
    ef_search: int = 200,
) -> HubSearchResult:
    """Open-set identify `embedding` against the hub's templates, then that person's events
    at every site, newest first. Refused without a reason; audited with the outcome."""
    reason = need_reason(reason, "a search by photo")
    if limit < 1:
        raise InputError("limit must be at least 1")
    with db.session() as s:
        hits, method = nearest_templates(s, embedding, model=calibration.model, ef_search=ef_search)
        best_pid, best = (hits[0][0], hits[0][1]) if hits else (None, -1.0)
        person = s.get(HubPerson, best_pid) if best_pid is not None else None
        known = person is not None and best >= calibration.threshold
        guard = hub_guard(s, calibration.model, calibration.threshold)
        if _objected(s, guard, embedding, best_pid if known else None):
            match = HubMatch(None, None, -1.0, 0.0, calibration.threshold, objected=True)
            best = -1.0
        else:
            match = HubMatch(
                person.uid if known and person else None,
                person.name if known and person else None,
                best,
                calibration.confidence(best),
                calibration.threshold,
            )
        events: list[HubEvent] = []
        if match.person_uid is not None:
            events = list(
                s.scalars(
                    select(HubEvent)
                    .where(HubEvent.person_uid == match.person_uid)
                    .order_by(HubEvent.start.desc(), HubEvent.id.desc())
                    .limit(limit)
                )
            )
        audit.record(
            s,
            actor=who.user,
            role=who.role,
            action=Action.search_face,
            source=who.source,
            reason=reason,
            target=("hub_person", match.person_uid or "unknown"),
            details={
                "scope": "all sites",
                "score": round(best, 4),
                "events": len(events),
                "sites": sorted({e.site for e in events}),
                "method": method,
                "objection": match.objected,
            },
        )
    return HubSearchResult(match, events, method)
