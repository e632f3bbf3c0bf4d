"""Human verification of matches (AI Act Art. 14(5)): people confirm a match before it is
acted on.

The contract:
- a watchlist's `confirmations_required` (0: none; 1..3 different people) applies to the
  matches of its members; `alert` lists (told to people outside the site) default to two
  (`default_confirmations`), the others to none;
- the event store (`events.store`) stores such a match `pending` and its own outbox rows held
  (`Delivery.held`): the dispatcher never sends a held row; review-item announcements, which
  name nobody, are not held;
- `verify` records one person's verdict with a reason, in one transaction with its audit
  record (`match_verify`, through the caller's `audit` hook): a second verdict of the same
  person is refused (`ConflictError`); when the required number of different people confirmed,
  the held rows are released (due now); one rejection gives them up for good, takes the person
  off the event (it was not them) and labels the pair a non-match (`faces.verified_pairs`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vigil.errors import ConflictError, InputError, NotFoundError
from vigil.events import review
from vigil.faces.verified_pairs import label_pair
from vigil.store.base import utcnow
from vigil.store.db import Database, rowcount
from vigil.store.models.events import (
    Delivery,
    Event,
    EventKind,
    MatchVerification,
    Verdict,
    Verification,
    WatchAction,
    Watchlist,
    WatchlistMember,
)

ALERT_CONFIRMATIONS = 2
MAX_CONFIRMATIONS = 3
REJECTED_ERROR = "match rejected by verification"


def default_confirmations(action: WatchAction | str) -> int:
    """Two people confirm an `alert` list's matches (they reach people off the site); none for
    `notify` and `ignore`."""
    return ALERT_CONFIRMATIONS if WatchAction(action) is WatchAction.alert else 0


def check_confirmations(n: int) -> int:
    if not 0 <= n <= MAX_CONFIRMATIONS:
        raise InputError(f"confirmations must be 0 (none) to {MAX_CONFIRMATIONS}, not {n}")
    return n


def required_in(s: Session, person_id: int) -> int:
    """How many people must confirm a match of this person: the most any of their notifying
    watchlists asks (an `ignore` list notifies nobody, so there is nothing to hold)."""
    q = (
        select(func.max(Watchlist.confirmations_required))
        .join(WatchlistMember, WatchlistMember.watchlist_id == Watchlist.id)
        .where(WatchlistMember.person_id == person_id, Watchlist.action != WatchAction.ignore)
    )
    return int(s.scalar(q) or 0)


@dataclass
class Outcome:
    """What a verdict did."""

    uid: str
    state: Verification
    confirmations: int  # different people who confirmed so far
    required: int
    released: int = 0  # held notifications sent on their way
    cancelled: int = 0  # held notifications given up (rejected)
    verdicts: list[MatchVerification] = field(default_factory=list)


AuditHook = Callable[[Session, Event, int | None], None]  # (session, event, person judged)


def verify(
    db: Database,
    uid: str,
    *,
    actor: str,
    verdict: Verdict | str,
    reason: str,
    audit: AuditHook,
    wake: Callable[[], None] | None = None,
) -> Outcome:
    """Record `actor`'s verdict on the pending match of event `uid` (see the module)."""
    verdict = Verdict(verdict)
    reason = reason.strip()
    if not reason:
        raise InputError("a verification needs a stated reason", hint="say what you checked")
    if not actor.strip():
        raise InputError("a verification needs the name of who gives it")
    with db.session() as s:
        event = s.scalar(select(Event).where(Event.uid == uid).with_for_update())
        if event is None:
            raise NotFoundError(f"no event {uid}")
        if event.verification is None:
            raise InputError(f"event {uid} needs no verification")
        if event.verification is not Verification.pending:
            raise ConflictError(f"event {uid} was {event.verification.value} already")
        mine = select(MatchVerification.id).where(
            MatchVerification.event_uid == uid, MatchVerification.actor == actor
        )
        if s.scalar(mine) is not None:
            raise ConflictError(
                f"{actor} has already given a verdict on event {uid}",
                hint="another person must confirm it",
            )
        person = event.person_id
        s.add(
            MatchVerification(
                event_uid=uid, actor=actor, verdict=verdict, reason=reason, person_id=person
            )
        )
        audit(s, event, person)
        try:
            s.flush()
        except IntegrityError as exc:  # the same user's verdict, stored a moment ago
            raise ConflictError(f"{actor} has already given a verdict on event {uid}") from exc
        out = Outcome(uid, Verification.pending, 0, event.confirmations_required)
        out.confirmations = _confirmations(s, uid)
        now = utcnow()
        held = (Delivery.event_uid == uid, Delivery.held.is_(True))
        if verdict is Verdict.reject:
            cancel = update(Delivery).where(*held, Delivery.gave_up_at.is_(None))
            out.cancelled = rowcount(
                s.execute(cancel.values(held=False, gave_up_at=now, last_error=REJECTED_ERROR))
            )
            _not_that_person(s, event)
            label_pair(s, uid, same=False)
            out.state = event.verification = Verification.rejected
        elif out.confirmations >= event.confirmations_required:
            # The give-up clock starts now: a match may wait hours for its confirmations.
            release = update(Delivery).where(*held)
            out.released = rowcount(
                s.execute(release.values(held=False, next_attempt_at=now, created_at=now))
            )
            label_pair(s, uid, same=True)
            out.state = event.verification = Verification.confirmed
        out.verdicts = verdicts_in(s, uid)
    if out.released and wake is not None:
        wake()
    return out


def _confirmations(s: Session, uid: str) -> int:
    q = select(func.count(MatchVerification.id)).where(
        MatchVerification.event_uid == uid, MatchVerification.verdict == Verdict.confirm
    )
    return int(s.scalar(q) or 0)


def _not_that_person(s: Session, event: Event) -> None:
    """A rejected match names nobody: the event becomes an unidentified face."""
    event.person_id = event.score = event.confidence = None
    if event.kind is EventKind.known_person:
        event.kind = EventKind.face
    event.details = {
        k: v for k, v in (event.details or {}).items() if k not in ("watchlists", "action")
    }
    s.flush()
    from vigil.events.store import NO_ROUTING  # the store imports this module

    review.refresh_event(s, event, NO_ROUTING)  # its counts; announced with its next change


def verdicts_in(s: Session, uid: str) -> list[MatchVerification]:
    q = select(MatchVerification).where(MatchVerification.event_uid == uid)
    return list(s.scalars(q.order_by(MatchVerification.id)))


def verdicts_of(db: Database, uid: str) -> list[MatchVerification]:
    with db.session() as s:
        return verdicts_in(s, uid)


def pending(db: Database, limit: int = 100) -> tuple[list[Event], int]:
    """The matches waiting for verification (newest first, at most `limit`) and how many wait."""
    with db.session() as s:
        where = Event.verification == Verification.pending
        total = int(s.scalar(select(func.count(Event.id)).where(where)) or 0)
        q = select(Event).where(where).order_by(Event.start.desc(), Event.id.desc()).limit(limit)
        return list(s.scalars(q)), total
