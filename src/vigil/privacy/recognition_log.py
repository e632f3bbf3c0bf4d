"""The log of each use of live face recognition (AI Act Art. 12(3)): periods and matches.

A *period* is the time live recognition runs on one camera: from its analysis's first frame
to the end of its analysis (`vigil serve` stopping, the camera's thread failing). Each
period is a `recognition_periods` row and two audit records, `recognition_start` (with the
reference database checked: `GalleryState`, the model and the match threshold in force) and
`recognition_stop`; the row and its audit record commit together. A change of the gallery or
of the watchlists ends the open periods (`gallery_changed`) and starts new ones, so each
period names exactly one reference database: templates at once (the camera's matcher was
rebuilt, `reloaded`, before the next frame is matched), watchlists at the next heartbeat
(each match record also names the event's own watchlists). The owner calls `heartbeat()`
regularly: a process that dies leaves open periods, and the next `close_dangling()` (at
start) ends them at their last heartbeat, marked `restart`.

Each match (a known person named on a live camera) is a `recognition_match` audit record
written in the transaction that stores the event (`match_hook`): the event uid, the
snapshot file and its SHA-256, score, confidence, threshold, model, period and gallery hash.
The event and its snapshot expire with retention; the audit record stays (reading it back,
`recognition_report`, says the picture was deleted by retention).

Writing the log never stops analysis: a failure is logged, and the period is started again
at the next heartbeat.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from vigil.privacy.audit import Action, AuditLog
from vigil.store.base import utcnow
from vigil.store.db import Database
from vigil.store.models import Event, EventKind, Template, Watchlist, WatchlistMember
from vigil.store.models.recognition import RecognitionPeriod

log = logging.getLogger(__name__)

ACTOR = "system"
SOURCE = "analysis"


@dataclass(frozen=True)
class GalleryState:
    """The reference database a match is checked against: its hash and what it holds.

    `hash`: SHA-256 of the canonical JSON of the active model's (template id, person id)
    pairs and of every watchlist's name, action and member ids. Templates of other models
    are not searched, so they do not count."""

    hash: str
    templates: int
    people: int
    watchlists: list[dict[str, Any]] = field(default_factory=list)  # name, action, people


def gallery_state(s: Session, model: str) -> GalleryState:
    pairs = [
        [int(tid), int(pid)]
        for tid, pid in s.execute(
            select(Template.id, Template.person_id)
            .where(Template.model == model)
            .order_by(Template.id)
        )
    ]
    members: dict[int, list[int]] = {}
    for wid, pid in s.execute(
        select(WatchlistMember.watchlist_id, WatchlistMember.person_id).order_by(
            WatchlistMember.person_id
        )
    ):
        members.setdefault(wid, []).append(int(pid))
    lists = [
        {"name": w.name, "action": w.action.value, "people": members.get(w.id, [])}
        for w in s.scalars(select(Watchlist).order_by(Watchlist.name))
    ]
    doc = {"model": model, "templates": pairs, "watchlists": lists}
    digest = hashlib.sha256(
        json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()
    summary = [
        {"name": w["name"], "action": w["action"], "people": len(w["people"])} for w in lists
    ]
    return GalleryState(digest, len(pairs), len({pid for _, pid in pairs}), summary)


def _iso(t: datetime) -> str:
    return t.isoformat(timespec="seconds")


class RecognitionLog:
    """Opens and closes the periods of one node's cameras and records their matches."""

    def __init__(
        self,
        db: Database,
        audit: AuditLog,
        *,
        model: str,
        threshold: float,
        data_dir: Path | None = None,
    ) -> None:
        self.db = db
        self.audit = audit
        self.model = model
        self.threshold = threshold
        self.data_dir = data_dir  # for the snapshot's SHA-256
        self._lock = threading.Lock()
        self._open: dict[str, int] = {}  # camera -> open period id
        self._running: set[str] = set()  # cameras recognising now (a period may have failed)

    def close_dangling(self) -> int:
        """End the periods a dead process left open, at their last heartbeat (`restart`)."""
        with self.db.session() as s:
            ids = list(
                s.scalars(select(RecognitionPeriod.id).where(RecognitionPeriod.ended_at.is_(None)))
            )
        for pid in ids:
            self._close(pid, "restart")
        return len(ids)

    def started(self, camera: str) -> None:
        """Recognition began on `camera` (its analysis's first frame)."""
        with self._lock:
            self._running.add(camera)
            try:
                self._open_period(camera, self._gallery())
            except Exception:
                log.exception("recognition log: cannot start the period of %s", camera)

    def reloaded(self, camera: str) -> None:
        """`camera`'s matcher was rebuilt: a new period from its next frame if the gallery
        changed (so no match is logged against the previous gallery's period)."""
        with self._lock:
            try:
                self._rotate(self._gallery(), [camera])
            except Exception:
                log.exception("recognition log: cannot start the new period of %s", camera)

    def stopped(self, camera: str, ended_by: str = "stopped") -> None:
        """Recognition ended on `camera` (its analysis stopped or failed)."""
        with self._lock:
            self._running.discard(camera)
            pid = self._open.pop(camera, None)
            if pid is not None:
                try:
                    self._close(pid, ended_by)
                except Exception:
                    log.exception("recognition log: cannot end the period of %s", camera)

    def heartbeat(self) -> None:
        """Note that the open periods still run; a changed gallery or watchlist starts new
        periods; a period that failed to start is started now."""
        with self._lock:
            state = self._gallery()
            self._rotate(state, list(self._open))
            for camera in sorted(self._running - self._open.keys()):
                self._open_period(camera, state)
            if self._open:
                with self.db.session() as s:
                    s.execute(
                        update(RecognitionPeriod)
                        .where(RecognitionPeriod.id.in_(list(self._open.values())))
                        .values(last_seen_at=utcnow())
                    )

    def period_of(self, camera: str) -> int | None:
        # No lock: called inside an event's transaction, and `heartbeat` writes while holding
        # the lock (waiting here could deadlock on the database's write lock).
        return self._open.get(camera)

    def match_hook(self, s: Session, event: Event) -> None:
        """`create_event`'s hook: a known person's event gets its `recognition_match` audit
        record in the same transaction (no name without its log record)."""
        if event.kind is not EventKind.known_person:
            return
        pid = self.period_of(event.camera)
        period = s.get(RecognitionPeriod, pid) if pid is not None else None
        details: dict[str, Any] = {
            "event": event.uid,
            "snapshot": event.snapshot,
            "snapshot_sha256": self._sha256(event.snapshot),
            "score": event.score,
            "confidence": event.confidence,
            # the threshold of the face's size band that named them (0073), else the period's
            "threshold": event.details.get(
                "threshold", period.threshold if period else self.threshold
            ),
            "band": event.details.get("band"),
            "model": period.model if period else self.model,
            "period": pid,
            "gallery_hash": period.gallery_hash if period else None,
            "watchlists": event.details.get("watchlists", []),
            "watch_action": event.details.get("action"),
        }
        self.audit.record(
            s,
            actor=ACTOR,
            action=Action.recognition_match,
            source=SOURCE,
            target=("event", event.uid),
            camera=event.camera,
            person=event.person_id,
            details=details,
        )

    def _sha256(self, snapshot: str | None) -> str | None:
        if snapshot is None or self.data_dir is None:
            return None
        try:
            return hashlib.sha256((self.data_dir / snapshot).read_bytes()).hexdigest()
        except OSError:
            return None

    def _gallery(self) -> GalleryState:
        with self.db.session() as s:
            return gallery_state(s, self.model)

    def _rotate(self, state: GalleryState, cameras: list[str]) -> None:
        """End the open periods of `cameras` checked against another gallery; start new ones."""
        for camera in cameras:
            pid = self._open.get(camera)
            if pid is not None and self._period_hash(pid) != state.hash:
                self._close(self._open.pop(camera), "gallery_changed")
                self._open_period(camera, state)

    def _period_hash(self, pid: int) -> str | None:
        with self.db.session() as s:
            return s.scalar(
                select(RecognitionPeriod.gallery_hash).where(RecognitionPeriod.id == pid)
            )

    def _open_period(self, camera: str, state: GalleryState) -> None:
        now = utcnow()
        with self.db.session() as s:
            period = RecognitionPeriod(
                camera=camera,
                started_at=now,
                last_seen_at=now,
                ended_by="",
                model=self.model,
                threshold=self.threshold,
                gallery_hash=state.hash,
                templates=state.templates,
                people=state.people,
                watchlists=state.watchlists,
            )
            s.add(period)
            s.flush()
            rec = self.audit.record(
                s,
                actor=ACTOR,
                action=Action.recognition_start,
                source=SOURCE,
                target=("recognition_period", period.id),
                camera=camera,
                details={
                    "period": period.id,
                    "start": _iso(now),
                    "model": self.model,
                    "threshold": self.threshold,
                    "gallery": asdict(state),
                },
            )
            period.start_seq = rec.seq
            self._open[camera] = period.id

    def _close(self, pid: int, ended_by: str) -> None:
        with self.db.session() as s:
            period = s.get(RecognitionPeriod, pid)
            if period is None or period.ended_at is not None:
                return
            end = utcnow() if ended_by != "restart" else period.last_seen_at
            rec = self.audit.record(
                s,
                actor=ACTOR,
                action=Action.recognition_stop,
                source=SOURCE,
                target=("recognition_period", pid),
                camera=period.camera,
                details={
                    "period": pid,
                    "start": _iso(period.started_at),
                    "end": _iso(end),
                    "ended_by": ended_by,
                    "gallery_hash": period.gallery_hash,
                },
            )
            period.ended_at, period.ended_by, period.stop_seq = end, ended_by, rec.seq
