"""The hub's gallery: people enrolled at the hub, watchlists that name sites, the pushes that
carry them to exactly those sites, and search by photo across every site.

Placement rule: a person goes to the sites named by the watchlists they are on, and nowhere
else; a watchlist goes to the sites it names. Every change calls `reconcile`, which compares
what the watchlists ask for with what was already sent (`hub_placements`) and queues a
`person.put` / `watchlist.put` for what is new or changed and a `.remove` for what no longer
belongs (`hub_pushes`, sent by `HubPusher`). Pushes are idempotent by uid; a newer push of the
same uid to a site replaces an older one still waiting, so a site that was offline gets the
last state when it is back. A `person.put` carries the reason, requester and legal basis of the
person's latest enrolment at the hub (from the hub's audit log), so the site's audit record of
the push says them.

Deletions made at a site (an operator, an erasure) come back through what already flows: the
site's audit records, pulled over JetStream into `hub_audit_records` (acked after the hub's
commit, so nothing is lost while a link is down). `note_site_audit` reads them: the site's
record of a push names the person's id there, and a later local `remove_person` of that id
marks the placement removed. Such a person is not pushed to that site again until they are
enrolled at the hub anew (a reasoned, audited act).

Search: on PostgreSQL the templates' `vec vector(128)` column has an HNSW index (cosine);
`hnsw.ef_search` is set per query. On SQLite the templates are matched exactly with numpy.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import delete, select, text, update
from sqlalchemy.orm import Session

from vigil.errors import InputError, NotFoundError
from vigil.faces.calibration import Calibration
from vigil.faces.gallery import check_legal_basis
from vigil.privacy.audit import Action, AuditLog, ReasonRequired
from vigil.store.db import Database
from vigil.store.models.audit import AuditRecord
from vigil.store.models.events import WatchAction
from vigil.store.models.faces import LegalBasis
from vigil.store.models.hub import (
    HubAuditRecord,
    HubEvent,
    HubPerson,
    HubPlacement,
    HubPush,
    HubTemplate,
    HubWatchlist,
    HubWatchlistMember,
    HubWatchlistSite,
)
from vigil.sync import wire

VECTOR_DIM = 128  # the pgvector column's size (SFace); other sizes are searched exactly
SITE_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")


@dataclass(frozen=True)
class Actor:
    """Who changes or searches the hub gallery, from where, for the hub's audit log."""

    user: str
    source: str = "cli"
    role: str = ""


@dataclass(frozen=True)
class TemplateIn:
    embedding: np.ndarray  # L2-normalised
    sha256: str
    quality: float
    model: str


def need_reason(reason: str, what: str) -> str:
    reason = reason.strip()
    if len(reason) < 3:
        raise ReasonRequired(
            f"{what} needs a stated reason (at least 3 characters)",
            hint='add --reason "..."',
        )
    return reason


def _check_site(site: str) -> str:
    if not site or len(site) > 64 or not set(site) <= SITE_CHARS:
        raise InputError(f"{site!r} is not a site id (letters, digits, _ and -; up to 64)")
    return site


def _vector_literal(v: np.ndarray) -> str:
    return "[" + ",".join(f"{x:.7g}" for x in np.asarray(v, np.float32).ravel()) + "]"


def _is_pg(s: Session) -> bool:
    return s.get_bind().dialect.name == "postgresql"


# --- people ---


def enrol(
    db: Database,
    audit: AuditLog,
    actor: Actor,
    name: str,
    templates: list[TemplateIn],
    *,
    legal_basis: LegalBasis,
    legal_basis_note: str = "",
    review_at: datetime | None = None,
    reason: str,
) -> tuple[str, int]:
    """Add templates to `name` at the hub (created if new), audited; returns (uid, added).
    Sites the person's watchlists name get the new state."""
    name = name.strip()
    if not name:
        raise InputError("a person needs a name")
    if not templates:
        raise InputError("no templates given")
    reason = need_reason(reason, "enrolling at the hub")
    check_legal_basis(legal_basis, legal_basis_note)
    with db.session() as s:
        person = s.scalar(select(HubPerson).where(HubPerson.name == name))
        if person is None:
            person = HubPerson(
                uid=str(uuid.uuid4()),
                name=name,
                legal_basis=legal_basis,
                enrolled_by=actor.user,
            )
            s.add(person)
        person.legal_basis = legal_basis
        person.legal_basis_note = legal_basis_note.strip()
        person.review_at = review_at
        known = {t.image_sha256 for t in person.templates}
        new: list[HubTemplate] = []
        for t in templates:
            if t.sha256 in known:
                continue
            known.add(t.sha256)
            row = HubTemplate(
                embedding=np.asarray(t.embedding, np.float32).tobytes(),
                model=t.model,
                image_sha256=t.sha256,
                quality=float(t.quality),
            )
            person.templates.append(row)
            new.append(row)
        s.flush()
        if _is_pg(s):
            _write_vectors(s, new)
        audit.record(
            s,
            actor=actor.user,
            role=actor.role,
            action=Action.enroll,
            source=actor.source,
            reason=reason,
            target=("hub_person", person.uid),
            details={"name": name, "templates": len(new), "legal_basis": legal_basis.value},
        )
        reconcile(s, actor, people={person.uid})
        return person.uid, len(new)


def _write_vectors(s: Session, rows: list[HubTemplate]) -> None:
    for row in rows:
        vec = np.frombuffer(row.embedding, np.float32)
        if vec.size == VECTOR_DIM:
            s.execute(
                text("UPDATE hub_templates SET vec = CAST(:v AS vector) WHERE id = :id"),
                {"v": _vector_literal(vec), "id": row.id},
            )


def remove_person(db: Database, audit: AuditLog, actor: Actor, name: str, *, reason: str) -> int:
    """Delete the person and their templates at the hub, clear their identity on the hub's
    events, and queue their removal at every site they were sent to; returns templates
    deleted."""
    reason = need_reason(reason, "removing a person at the hub")
    with db.session() as s:
        person = s.scalar(select(HubPerson).where(HubPerson.name == name))
        if person is None:
            raise NotFoundError(f"no person named {name!r} at the hub")
        n = len(person.templates)
        uid = person.uid
        lists = set(
            s.scalars(
                select(HubWatchlist.uid)
                .join(HubWatchlistMember)
                .where(HubWatchlistMember.person_id == person.id)
            )
        )
        s.execute(update(HubEvent).where(HubEvent.person_uid == uid).values(person_uid=None))
        audit.record(
            s,
            actor=actor.user,
            role=actor.role,
            action=Action.remove_person,
            source=actor.source,
            reason=reason,
            target=("hub_person", uid),
            details={"name": name, "templates": n},
        )
        s.delete(person)
        s.flush()
        reconcile(s, actor, watchlists=lists, reason=reason)
    return n


@dataclass(frozen=True)
class HubPersonSummary:
    uid: str
    name: str
    templates: int
    legal_basis: str
    enrolled_by: str
    enrolled_at: datetime
    review_at: datetime | None
    watchlists: list[str]
    sites: list[str]  # sites the person is sent to (or queued for)
    removed_at_sites: list[str] = field(default_factory=list)  # deleted there by the site


def list_people(db: Database) -> list[HubPersonSummary]:
    with db.session() as s:
        people = list(s.scalars(select(HubPerson).order_by(HubPerson.name)))
        lists: dict[int, list[str]] = {}
        for pid, wname in s.execute(
            select(HubWatchlistMember.person_id, HubWatchlist.name).join(HubWatchlist)
        ):
            lists.setdefault(pid, []).append(wname)
        placed: dict[str, list[str]] = {}
        removed: dict[str, list[str]] = {}
        for site, uid, removed_at in s.execute(
            select(HubPlacement.site, HubPlacement.uid, HubPlacement.removed_at).where(
                HubPlacement.kind == "person"
            )
        ):
            (placed if removed_at is None else removed).setdefault(uid, []).append(site)
        return [
            HubPersonSummary(
                p.uid,
                p.name,
                len(p.templates),
                p.legal_basis.value,
                p.enrolled_by,
                p.enrolled_at,
                p.review_at,
                sorted(lists.get(p.id, [])),
                sorted(placed.get(p.uid, [])),
                sorted(removed.get(p.uid, [])),
            )
            for p in people
        ]


@dataclass(frozen=True)
class SitePlacement:
    """Where a hub person stands at one site."""

    site: str
    state: str  # "held" (pushed), "queued" (not yet acknowledged), "removed_by_site"
    site_person_id: str | None = None
    removed_at: datetime | None = None
    removed_by: str | None = None  # the site's user (its audit record)
    removed_reason: str | None = None


def person_placements(db: Database, uid: str) -> list[SitePlacement]:
    """The sites a hub person was sent to, by site: held, still queued, or deleted there."""
    return placements(db, [uid]).get(uid, [])


def placements(db: Database, uids: Iterable[str] | None = None) -> dict[str, list[SitePlacement]]:
    """`person_placements` of every hub person (or of `uids`) in one read, by uid."""
    with db.session() as s:
        pending = select(HubPush.uid, HubPush.site).where(
            HubPush.verb == "person.put", HubPush.done_at.is_(None)
        )
        rows = select(HubPlacement).where(HubPlacement.kind == "person")
        if uids is not None:
            wanted = list(uids)
            pending = pending.where(HubPush.uid.in_(wanted))
            rows = rows.where(HubPlacement.uid.in_(wanted))
        queued = {(u, site) for u, site in s.execute(pending)}
        out: dict[str, list[SitePlacement]] = {}
        for p in s.scalars(rows.order_by(HubPlacement.uid, HubPlacement.site)):
            at = out.setdefault(p.uid, [])
            if p.removed_at is None:
                state = "queued" if (p.uid, p.site) in queued else "held"
                at.append(SitePlacement(p.site, state, p.site_person_id))
                continue
            copy = s.get(HubAuditRecord, (p.site, p.removed_seq)) if p.removed_seq else None
            record = copy.record if copy is not None else {}
            at.append(
                SitePlacement(
                    p.site,
                    "removed_by_site",
                    p.site_person_id,
                    p.removed_at,
                    record.get("actor"),
                    record.get("reason"),
                )
            )
        return out


# --- watchlists ---


def _watchlist(s: Session, name: str) -> HubWatchlist:
    w = s.scalar(select(HubWatchlist).where(HubWatchlist.name == name))
    if w is None:
        raise NotFoundError(f"no hub watchlist named {name!r}")
    return w


def _audit_watchlist(
    s: Session, audit: AuditLog, actor: Actor, w: HubWatchlist, change: str, **details: Any
) -> None:
    audit.record(
        s,
        actor=actor.user,
        role=actor.role,
        action=Action.change_watchlist,
        source=actor.source,
        target=("hub_watchlist", w.uid),
        details={"name": w.name, "change": change, **details},
    )


def create_watchlist(
    db: Database,
    audit: AuditLog,
    actor: Actor,
    name: str,
    *,
    action: WatchAction,
    sites: list[str],
    notes: str = "",
) -> str:
    name = name.strip()
    if not name:
        raise InputError("a watchlist needs a name")
    sites = sorted({_check_site(x) for x in sites})
    with db.session() as s:
        if s.scalar(select(HubWatchlist.id).where(HubWatchlist.name == name)) is not None:
            raise InputError(f"a hub watchlist named {name!r} exists already")
        w = HubWatchlist(
            uid=str(uuid.uuid4()), name=name, action=action, notes=notes, created_by=actor.user
        )
        s.add(w)
        s.flush()
        for site in sites:
            s.add(HubWatchlistSite(watchlist_id=w.id, site=site))
        _audit_watchlist(s, audit, actor, w, "create", action=action.value, sites=sites)
        s.flush()
        reconcile(s, actor)
        return w.uid


def update_watchlist(
    db: Database,
    audit: AuditLog,
    actor: Actor,
    name: str,
    *,
    action: WatchAction | None = None,
    add_sites: Sequence[str] = (),
    remove_sites: Sequence[str] = (),
) -> None:
    """Change a watchlist's action or the sites it names; a site dropped loses its members
    (unless another of their watchlists names it) and the list."""
    add = {_check_site(x) for x in add_sites}
    drop = set(remove_sites)
    with db.session() as s:
        w = _watchlist(s, name)
        have = set(
            s.scalars(select(HubWatchlistSite.site).where(HubWatchlistSite.watchlist_id == w.id))
        )
        unknown = drop - have
        if unknown:
            raise InputError(f"watchlist {name!r} does not name {', '.join(sorted(unknown))}")
        for site in add - have:
            s.add(HubWatchlistSite(watchlist_id=w.id, site=site))
        if drop:
            s.execute(
                delete(HubWatchlistSite).where(
                    HubWatchlistSite.watchlist_id == w.id, HubWatchlistSite.site.in_(drop)
                )
            )
        if action is not None:
            w.action = action
        _audit_watchlist(
            s,
            audit,
            actor,
            w,
            "update",
            action=w.action.value,
            added_sites=sorted(add - have),
            removed_sites=sorted(drop),
        )
        s.flush()
        reconcile(s, actor, watchlists={w.uid})


def set_member(
    db: Database, audit: AuditLog, actor: Actor, watchlist: str, person: str, *, member: bool
) -> bool:
    """Put `person` on (member=True) or take them off `watchlist`; False when nothing changed."""
    with db.session() as s:
        w = _watchlist(s, watchlist)
        p = s.scalar(select(HubPerson).where(HubPerson.name == person))
        if p is None:
            raise NotFoundError(f"no person named {person!r} at the hub")
        row = s.get(HubWatchlistMember, (w.id, p.id))
        if (row is not None) == member:
            return False
        if member:
            s.add(HubWatchlistMember(watchlist_id=w.id, person_id=p.id))
        else:
            s.delete(row)
        _audit_watchlist(
            s, audit, actor, w, "add" if member else "remove", person=p.uid, person_name=p.name
        )
        s.flush()
        reconcile(s, actor, watchlists={w.uid})
        return True


def delete_watchlist(db: Database, audit: AuditLog, actor: Actor, name: str) -> None:
    with db.session() as s:
        w = _watchlist(s, name)
        _audit_watchlist(s, audit, actor, w, "delete")
        s.delete(w)
        s.flush()
        reconcile(s, actor)


@dataclass(frozen=True)
class HubWatchlistSummary:
    uid: str
    name: str
    action: str
    sites: list[str]
    members: list[str]


def list_watchlists(db: Database) -> list[HubWatchlistSummary]:
    with db.session() as s:
        out = []
        for w in s.scalars(select(HubWatchlist).order_by(HubWatchlist.name)):
            sites = s.scalars(
                select(HubWatchlistSite.site)
                .where(HubWatchlistSite.watchlist_id == w.id)
                .order_by(HubWatchlistSite.site)
            )
            members = s.scalars(
                select(HubPerson.name)
                .join(HubWatchlistMember, HubWatchlistMember.person_id == HubPerson.id)
                .where(HubWatchlistMember.watchlist_id == w.id)
                .order_by(HubPerson.name)
            )
            out.append(
                HubWatchlistSummary(w.uid, w.name, w.action.value, list(sites), list(members))
            )
        return out


# --- placement and pushes ---


@dataclass(frozen=True)
class Enrolment:
    """Who enrolled a hub person last, and why (the hub's audit record of it)."""

    by: str = ""
    reason: str = ""


def latest_enrolments(s: Session, uids: Iterable[str]) -> dict[str, Enrolment]:
    out: dict[str, Enrolment] = {}
    for uid, by, reason in s.execute(
        select(AuditRecord.target_id, AuditRecord.actor, AuditRecord.reason)
        .where(
            AuditRecord.action == Action.enroll,
            AuditRecord.target_kind == "hub_person",
            AuditRecord.target_id.in_(list(uids)),
        )
        .order_by(AuditRecord.seq)
    ):
        out[uid] = Enrolment(by, reason)  # the newest last
    return out


def person_body(p: HubPerson, actor: Actor, enrolment: Enrolment | None = None) -> wire.PersonPut:
    """A `person.put`: the whole state, and why (`reason`, `requested_by`: the latest
    enrolment; `by`: whose change sent it)."""
    enrolment = enrolment or Enrolment(p.enrolled_by)
    return wire.PersonPut(
        uid=p.uid,
        name=p.name,
        legal_basis=p.legal_basis.value,
        legal_basis_note=p.legal_basis_note,
        review_at=p.review_at,
        enrolled_by=p.enrolled_by,
        requested_by=enrolment.by or p.enrolled_by,
        reason=enrolment.reason,
        by=actor.user,
        templates=[
            wire.PushedTemplate(
                sha256=t.image_sha256,
                model=t.model,
                quality=t.quality,
                embedding=base64.b64encode(t.embedding).decode(),
            )
            for t in p.templates
        ],
    )


def watchlist_body(s: Session, w: HubWatchlist, actor: Actor) -> wire.WatchlistPut:
    members = s.scalars(
        select(HubPerson.uid)
        .join(HubWatchlistMember, HubWatchlistMember.person_id == HubPerson.id)
        .where(HubWatchlistMember.watchlist_id == w.id)
    )
    return wire.WatchlistPut(
        uid=w.uid,
        name=w.name,
        action=w.action.value,
        notes=w.notes,
        members=sorted(members),
        by=actor.user,
    )


def _queue(s: Session, site: str, verb: str, uid: str, body: wire.Push) -> None:
    s.execute(
        delete(HubPush).where(HubPush.site == site, HubPush.uid == uid, HubPush.done_at.is_(None))
    )
    s.add(HubPush(site=site, verb=verb, uid=uid, body=body.dump()))  # sent as it is stored


def reconcile(
    s: Session,
    actor: Actor,
    *,
    people: set[str] | frozenset[str] = frozenset(),
    watchlists: set[str] | frozenset[str] = frozenset(),
    reason: str = "",
) -> int:
    """Queue the pushes that bring every site to what the watchlists ask for; `people` and
    `watchlists` (uids) changed in place and are re-sent where they already are. Returns
    the number of pushes queued."""
    wanted: set[tuple[str, str, str]] = set()
    for site, wuid in s.execute(select(HubWatchlistSite.site, HubWatchlist.uid).join(HubWatchlist)):
        wanted.add((site, "watchlist", wuid))
    for site, puid in s.execute(
        select(HubWatchlistSite.site, HubPerson.uid)
        .join(HubWatchlistMember, HubWatchlistMember.watchlist_id == HubWatchlistSite.watchlist_id)
        .join(HubPerson, HubPerson.id == HubWatchlistMember.person_id)
    ):
        wanted.add((site, "person", puid))
    rows = list(s.scalars(select(HubPlacement)))
    placed = {(p.site, p.kind, p.uid) for p in rows if p.removed_at is None}
    # deleted by the site itself: sent again only when the person is enrolled anew
    site_removed = {(p.site, p.kind, p.uid): p for p in rows if p.removed_at is not None}
    touched = {("person", u) for u in people} | {("watchlist", u) for u in watchlists}
    send = sorted(
        (
            k
            for k in wanted
            if (k[1], k[2]) in touched or (k not in placed and k not in site_removed)
        ),
        key=lambda k: (k[1] != "person", k[0], k[2]),  # people before the lists naming them
    )
    gone = sorted(placed - wanted, key=lambda k: (k[1] != "watchlist", k[0], k[2]))
    for k, row in site_removed.items():
        if k not in wanted:
            s.delete(row)  # nothing there to remove
    queued = 0
    people_rows = {
        p.uid: p
        for p in s.scalars(
            select(HubPerson).where(HubPerson.uid.in_({k[2] for k in send if k[1] == "person"}))
        )
    }
    list_rows = {
        w.uid: w
        for w in s.scalars(
            select(HubWatchlist).where(
                HubWatchlist.uid.in_({k[2] for k in send if k[1] == "watchlist"})
            )
        )
    }
    enrolments = latest_enrolments(s, people_rows)
    for site, kind, uid in send:
        if kind == "person":
            body = person_body(people_rows[uid], actor, enrolments.get(uid))
        else:
            body = watchlist_body(s, list_rows[uid], actor)
        _queue(s, site, f"{kind}.put", uid, body)
        if (site, kind, uid) in site_removed:
            row = site_removed[(site, kind, uid)]
            row.removed_at = row.removed_seq = row.site_person_id = None
        elif (site, kind, uid) not in placed:
            s.add(HubPlacement(site=site, kind=kind, uid=uid))
        queued += 1
    for site, kind, uid in gone:
        _queue(s, site, f"{kind}.remove", uid, wire.Push(uid=uid, by=actor.user, reason=reason))
        s.execute(
            delete(HubPlacement).where(
                HubPlacement.site == site, HubPlacement.kind == kind, HubPlacement.uid == uid
            )
        )
        queued += 1
    return queued


# --- what the sites report back (their audit records, as they reach the hub) ---

_GALLERY_ACTIONS = (Action.enroll.value, Action.remove_person.value)


def note_site_audit(s: Session, site: str, records: Iterable[dict[str, Any]]) -> int:
    """Bring `site`'s person placements up to date with its audit records (the payloads of
    `vigil.<site>.audit`), in the caller's transaction: `store_batch` calls it after storing
    a batch's copies. The site's record of a push (`hub_person` target) tells the person's id
    there; a later `remove_person` of that id made at the site itself marks the placement
    removed. Idempotent; a copy older than some already stored (a batch redelivered after a
    failure) is applied and then those later ones again. Returns placements marked removed."""
    todo = sorted(
        (r for r in records if r.get("action") in _GALLERY_ACTIONS), key=lambda r: r["seq"]
    )
    if not todo:
        return 0
    later = [
        c.record
        for c in s.scalars(
            select(HubAuditRecord)
            .where(
                HubAuditRecord.site == site,
                HubAuditRecord.seq > todo[-1]["seq"],
                HubAuditRecord.record["action"].as_string().in_(_GALLERY_ACTIONS),
            )
            .order_by(HubAuditRecord.seq)
        )
    ]
    return sum(_note(s, site, r) for r in [*todo, *later])


def _note(s: Session, site: str, r: dict[str, Any]) -> int:
    person = None if r.get("person") is None else str(r["person"])
    if r.get("target_kind") == "hub_person":
        if r["action"] != Action.enroll:
            return 0  # a removal the hub asked for: its placement is gone already
        row = s.get(HubPlacement, (site, "person", r.get("target_id")))
        if row is not None:
            row.site_person_id = person
            if row.removed_seq is not None and row.removed_seq < r["seq"]:
                row.removed_at = row.removed_seq = None  # pushed to the site again since
        return 0
    if r["action"] != Action.remove_person or person is None:
        return 0
    n = 0
    for row in s.scalars(
        select(HubPlacement).where(
            HubPlacement.site == site,
            HubPlacement.kind == "person",
            HubPlacement.site_person_id == person,
            HubPlacement.removed_at.is_(None),
        )
    ):
        row.removed_at = datetime.fromisoformat(r["time"]).astimezone(UTC)
        row.removed_seq = r["seq"]
        n += 1
    return n


@dataclass(frozen=True)
class PendingPush:
    site: str
    verb: str
    uid: str
    attempts: int
    last_error: str
    created_at: datetime


def pending_pushes(db: Database) -> list[PendingPush]:
    with db.session() as s:
        return [
            PendingPush(p.site, p.verb, p.uid, p.attempts, p.last_error, p.created_at)
            for p in s.scalars(
                select(HubPush).where(HubPush.done_at.is_(None)).order_by(HubPush.id)
            )
        ]


Connector = Callable[[str], Awaitable[Any]]  # site -> connected nats.NATS in its account


@dataclass
class PushRound:
    sent: int = 0
    refused: int = 0  # the site answered with an error (retried with back-off)
    unreachable: list[str] = field(default_factory=list)


class HubPusher:
    """Sends queued pushes to their sites in order, one site at a time per connection.

    A site that does not answer (link down, no responder) keeps its pushes for the next round;
    one that refuses a push (e.g. a site-local person has the same name) gets it again after a
    back-off, and the refusal is kept in `last_error` (`vigil hub pending`)."""

    def __init__(
        self,
        db: Database,
        connect: Connector,
        *,
        timeout_s: float = 5.0,
        interval_s: float = 1.0,
        max_backoff_s: float = 300.0,
    ) -> None:
        self.db = db
        self.connect = connect
        self.timeout_s = timeout_s
        self.interval_s = interval_s
        self.max_backoff_s = max_backoff_s
        self._conns: dict[str, Any] = {}
        self._stop = asyncio.Event()

    def _due(self) -> dict[str, list[tuple[int, str, dict[str, Any]]]]:
        now = datetime.now(UTC)
        out: dict[str, list[tuple[int, str, dict[str, Any]]]] = {}
        with self.db.session() as s:
            for p in s.scalars(
                select(HubPush)
                .where(HubPush.done_at.is_(None), HubPush.next_attempt_at <= now)
                .order_by(HubPush.id)
            ):
                out.setdefault(p.site, []).append((p.id, p.verb, p.body))
        return out

    def _settle(self, push_id: int, error: str | None, count_attempt: bool = True) -> None:
        with self.db.session() as s:
            p = s.get(HubPush, push_id)
            if p is None or p.done_at is not None:
                return  # replaced by a newer push meanwhile
            if count_attempt:
                p.attempts += 1
            if error is None:
                p.done_at, p.last_error = datetime.now(UTC), ""
            else:
                p.last_error = error[:2000]
                if count_attempt:
                    wait = min(self.max_backoff_s, 2.0 ** min(p.attempts, 16))
                    p.next_attempt_at = datetime.now(UTC) + timedelta(seconds=wait)

    async def _conn(self, site: str) -> Any:
        nc = self._conns.get(site)
        if nc is None or nc.is_closed:
            nc = await self.connect(site)
            self._conns[site] = nc
        return nc

    async def push_once(self) -> PushRound:
        out = PushRound()
        for site, items in (await asyncio.to_thread(self._due)).items():
            try:
                nc = await self._conn(site)
            except Exception as exc:
                await self._unreachable(out, site, [i[0] for i in items], exc)
                continue
            for k, (push_id, verb, body) in enumerate(items):
                try:
                    msg = await nc.request(
                        wire.command_subject(site, verb),
                        json.dumps(body).encode(),
                        timeout=self.timeout_s,
                    )
                    reply = wire.Reply.read(msg.data)
                except Exception as exc:  # no responders, timeout, link down: next round
                    await self._unreachable(out, site, [i[0] for i in items[k:]], exc)
                    break
                if reply.ok:
                    await asyncio.to_thread(self._settle, push_id, None)
                    out.sent += 1
                else:
                    await asyncio.to_thread(self._settle, push_id, reply.error or "refused")
                    out.refused += 1
        return out

    async def _unreachable(
        self, out: PushRound, site: str, push_ids: list[int], exc: Exception
    ) -> None:
        out.unreachable.append(site)
        for push_id in push_ids:
            await asyncio.to_thread(
                self._settle, push_id, f"site unreachable: {type(exc).__name__}", False
            )

    async def run(self) -> None:
        try:
            while not self._stop.is_set():
                await self.push_once()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), self.interval_s)
        finally:
            await self.close()

    def stop(self) -> None:
        self._stop.set()

    async def close(self) -> None:
        for nc in self._conns.values():
            with contextlib.suppress(Exception):
                await nc.close()
        self._conns.clear()


# --- search by photo across sites ---


@dataclass(frozen=True)
class HubMatch:
    person_uid: str | None  # None: unknown (below the threshold): no name is given
    name: str | None
    score: float
    confidence: float
    threshold: float

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
    if _is_pg(s) and probe.size == VECTOR_DIM:
        s.execute(text(f"SET LOCAL hnsw.ef_search = {int(ef_search)}"))
        rows = s.execute(
            text(
                "SELECT person_id, 1 - (vec <=> CAST(:q AS vector)) AS score FROM hub_templates "
                "WHERE model = :model AND vec IS NOT NULL "
                "ORDER BY vec <=> CAST(:q AS vector) LIMIT :k"
            ),
            {"q": _vector_literal(probe), "model": model, "k": k},
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
            },
        )
    return HubSearchResult(match, events, method)
