"""Search by photo: who is this (open-set), and where were they seen. Reason required.

The hub's search (`vigil.hub.routes.search`) takes the same form (`SearchPhoto`, `SearchReason`,
`SearchLimit`), finds the face the same way (`face_to_search`) and shows its match the same way
(`match_figures`); only where it looks and what it returns differ."""

from __future__ import annotations

from typing import Annotated, Any, Protocol

import numpy as np
from fastapi import APIRouter, File, Form, Request, UploadFile

from vigil.api.context import ApiContext
from vigil.api.deps import Ctx, Searcher, audit
from vigil.api.identity import reveals_identity
from vigil.api.limits import ANALYSIS_SLOT
from vigil.api.routes.events import events_out
from vigil.api.routes.people import read_upload
from vigil.api.schemas import PersonMatchOut, QualityOut, SearchOut, SightingOut
from vigil.errors import InputError
from vigil.events.store import EventFilter, list_events
from vigil.faces.calibration import confidence_text
from vigil.faces.engine import FaceObservation
from vigil.faces.matcher import Match
from vigil.faces.sightings import search_unknown
from vigil.privacy.audit import Action
from vigil.vision.image import load_image

router = APIRouter(prefix="/search", tags=["search"])


SearchPhoto = Annotated[UploadFile, File(description="A photo with the face to search for.")]
SearchReason = Annotated[
    str, Form(min_length=3, max_length=500, description="Why you search (audited).")
]
SearchLimit = Annotated[int, Form(ge=1, le=500)]


class Scored(Protocol):
    """A match of a search by photo (`faces.matcher.Match`, `hub.search.HubMatch`)."""

    @property
    def name(self) -> str | None: ...
    @property
    def known(self) -> bool: ...
    @property
    def score(self) -> float: ...
    @property
    def confidence(self) -> float: ...
    @property
    def threshold(self) -> float: ...
    @property
    def objected(self) -> bool: ...


def match_figures(m: Scored) -> dict[str, Any]:
    """The match fields every search by photo shows besides whom it names: the name (None
    below the threshold), known, the figures to 4 places, the confidence in words."""
    return {
        "name": m.name,
        "known": m.known,
        "score": round(m.score, 4),
        "confidence": round(m.confidence, 4),
        "confidence_text": confidence_text(m.confidence),
        "threshold": round(m.threshold, 4),
        "objection": m.objected,
    }


NO_UNKNOWN_FACES = (
    "this site keeps no template of faces that match nobody "
    "(privacy.unknown_face_retention_days is unset), so there are no sightings to search"
)
OBJECTOR = "an objection to recognition covers this face: it is not identified or searched"


def sightings_for(ctx: ApiContext, probe: np.ndarray, m: Match) -> tuple[list[Any], str | None]:
    """Unknown-face sightings like `probe`, or none and why (none are kept; an objector)."""
    if m.objected:
        return [], OBJECTOR
    if not ctx.config.privacy.keeps_unknown_faces:
        return [], NO_UNKNOWN_FACES
    model = ctx.face_engine().model_name
    return search_unknown(ctx.db, probe, model=model, threshold=m.threshold), None


def face_to_search(
    ctx: ApiContext, photo: UploadFile, reason: str
) -> tuple[str, FaceObservation, str]:
    """The uploaded photo's largest face (embedded) and the stripped reason, or a clear 422:
    the first steps of every search by photo, here and at the hub. Returns (label, face, reason)."""
    reason = reason.strip()
    if len(reason) < 3:
        raise InputError("state a reason for the search (at least 3 characters)")
    label, data = read_upload(photo)
    faces = ctx.face_engine().analyze(load_image(data, label=label))
    if not faces or faces[0].embedding is None:  # largest first
        raise InputError(f"{label}: no face found", hint="use a photo where the face is clear")
    return label, faces[0], reason


@router.post(
    "/photo",
    dependencies=[ANALYSIS_SLOT],  # a turn in the photo-analysis pool, else 503
    response_model=SearchOut,
    summary="Upload a face: the matching enrolled person (if any) and their events",
    description="The largest face in the photo is searched. A stated reason is required; the "
    "search, its reason and its outcome are written to the audit log.",
)
def search_photo(
    p: Searcher,
    ctx: Ctx,
    request: Request,
    photo: SearchPhoto,
    reason: SearchReason,
    limit: SearchLimit = 50,
) -> SearchOut:
    label, face, reason = face_to_search(ctx, photo, reason)
    assert face.embedding is not None
    q = face.quality
    quality = QualityOut(
        file=label, ok=q.ok, score=q.score, problems=list(q.problems), face_px=round(q.size_px, 1)
    )
    m = ctx.matcher().identify([face.embedding], [face.face.short_side])[0]
    match = PersonMatchOut(person_id=m.person_id, band=m.band, **match_figures(m))
    events = []
    if m.person_id is not None:
        page = list_events(ctx.db, EventFilter(person_id=m.person_id), limit=limit)
        events = events_out(ctx.db, page.events, reveal=reveals_identity(p))
    probe = np.asarray(face.embedding, np.float32)
    sightings, note = sightings_for(ctx, probe, m)
    sightings = sightings[:limit]
    audit(
        ctx,
        request,
        p,
        Action.search_face,
        reason=reason,
        target_kind="face",
        target_id=m.name or "unknown",
        person=m.person_id,
        details={
            "events": len(events),
            "sightings": len(sightings),
            "score": round(m.score, 4),
            "objection": m.objected,
        },
    )
    return SearchOut(
        face=quality,
        match=match,
        events=events,
        sightings=[
            SightingOut(event_uid=s.event_uid, camera=s.camera, seen_at=s.seen_at, score=s.score)
            for s in sightings
        ],
        sightings_note=note,
    )
