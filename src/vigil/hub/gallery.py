"""The hub's gallery: people enrolled at the hub (with their templates) and watchlists that
name sites. Every change is reasoned, written to the hub's audit log in the same transaction,
and ends with `placement.reconcile`, which queues the pushes that carry it to exactly the
sites the watchlists name (`pusher.HubPusher` sends them). `vigil hub people|watchlist` and the
hub's API call these same functions.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import delete, select, text, update
from sqlalchemy.orm import Session

from vigil.errors import InputError, NotFoundError
from vigil.events.verification import check_confirmations
from vigil.faces.calibration import Calibration
from vigil.faces.gallery import check_legal_basis
from vigil.hub.actor import Actor, need_reason
from vigil.hub.placement import reconcile
from vigil.hub.search import VECTOR_DIM, hub_guard, is_pg, vector_literal
from vigil.privacy.audit import Action, AuditLog
from vigil.store.db import Database
from vigil.store.models.events import WatchAction
from vigil.store.models.faces import LegalBasis
from vigil.store.models.hub import (
    HubEvent,
    HubPerson,
    HubPlacement,
    HubTemplate,
    HubWatchlist,
    HubWatchlistMember,
    HubWatchlistSite,
)

SITE_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")


@dataclass(frozen=True)
class TemplateIn:
    embedding: np.ndarray  # L2-normalised
    sha256: str
    quality: float
    model: str


def _check_site(site: str) -> str:
    if not site or len(site) > 64 or not set(site) <= SITE_CHARS:
        raise InputError(f"{site!r} is not a site id (letters, digits, _ and -; up to 64)")
    return site


def refuse_objectors(s: Session, templates: Sequence[TemplateIn]) -> None:
    """InputError when a template shows someone who objected to recognition at any site (at
    the published threshold of its model, as the sites' enrolment does by default)."""
    for model in {t.model for t in templates}:
        guard = hub_guard(s, model, Calibration.default(model).threshold)
        mine = [t for t in templates if t.model == model]
        if len(guard) and guard.blocks([t.embedding for t in mine]).any():
            raise InputError(
                "nothing was enrolled: this person objected to being recognised (an objection "
                "recorded at a site matches the photo)"
            )


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
        refuse_objectors(s, templates)
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
        if is_pg(s):
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
                {"v": vector_literal(vec), "id": row.id},
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
    confirmations: int | None = None,
) -> str:
    """`confirmations`: people who confirm a member's match at a site before it is acted on;
    None: each site's default for the action (`vigil.events.verification`)."""
    name = name.strip()
    if not name:
        raise InputError("a watchlist needs a name")
    if confirmations is not None:
        check_confirmations(confirmations)
    sites = sorted({_check_site(x) for x in sites})
    with db.session() as s:
        if s.scalar(select(HubWatchlist.id).where(HubWatchlist.name == name)) is not None:
            raise InputError(f"a hub watchlist named {name!r} exists already")
        w = HubWatchlist(
            uid=str(uuid.uuid4()),
            name=name,
            action=action,
            notes=notes,
            confirmations_required=confirmations,
            created_by=actor.user,
        )
        s.add(w)
        s.flush()
        for site in sites:
            s.add(HubWatchlistSite(watchlist_id=w.id, site=site))
        _audit_watchlist(
            s,
            audit,
            actor,
            w,
            "create",
            action=action.value,
            sites=sites,
            confirmations_required=confirmations,
        )
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
    confirmations: int | None = None,
) -> None:
    """Change a watchlist's action, confirmations or the sites it names; a site dropped loses
    its members (unless another of their watchlists names it) and the list."""
    if confirmations is not None:
        check_confirmations(confirmations)
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
        if confirmations is not None:
            w.confirmations_required = confirmations
        _audit_watchlist(
            s,
            audit,
            actor,
            w,
            "update",
            action=w.action.value,
            confirmations_required=w.confirmations_required,
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
    confirmations_required: int | None = None  # None: each site's default


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
                HubWatchlistSummary(
                    w.uid,
                    w.name,
                    w.action.value,
                    list(sites),
                    list(members),
                    w.confirmations_required,
                )
            )
        return out
