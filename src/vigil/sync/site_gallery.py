"""The site's side of the hub gallery: verbs `person.put`, `person.remove`, `watchlist.put`,
`watchlist.remove` (see `vigil.sync.commands`).

Only people and watchlists the hub pushed (`hub_uid` set) are ever changed; a site-local person
or list with the same name makes the push fail with a clear error instead. Each change is
written to the site's own audit log as `hub:<user>` in the same transaction. Every verb is
idempotent: a put carries the whole state, a repeated remove finds nothing and changes nothing.

A person's record says why: the hub user whose change sent the push (the actor), the reason
and legal basis of the person's enrolment at the hub (who requested it, in `details`), or the
hub's reason for a removal. These records reach the hub like every other, and a person the
site deletes on its own is recognised there by them (`vigil.hub.placement.note_site_audit`).
"""

from __future__ import annotations

import base64
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil.errors import InputError
from vigil.events.verification import check_confirmations, default_confirmations
from vigil.privacy.audit import Action, AuditLog
from vigil.store.models import Event, Person, Template, Watchlist, WatchlistMember
from vigil.store.models.events import EventKind, WatchAction
from vigil.store.models.faces import LegalBasis
from vigil.sync import wire
from vigil.sync.commands import CommandContext, register

IDENTITY_DETAILS = ("person", "watchlists", "action")  # event details that name someone


def _actor(body: wire.Push) -> str:
    return f"hub:{body.by or 'unknown'}"


def _audit(ctx: CommandContext, s: Session, body: wire.Push, **fields: Any) -> None:
    log = AuditLog(ctx.data_dir, checkpoint_every=ctx.config.privacy.audit_checkpoint_every)
    details = {"via": "hub push", "hub_user": body.by or "", **fields.pop("details")}
    reason = body.reason or ""
    log.record(s, actor=_actor(body), source="hub", reason=reason, details=details, **fields)


def _uid(body: wire.Push) -> str:
    if not 1 <= len(body.uid) <= 36:
        raise InputError("the push has no valid uid")
    return body.uid


@register("person.put", wire.PersonPut)
def person_put(ctx: CommandContext, body: wire.PersonPut) -> wire.PersonPutReply:
    uid, name = _uid(body), body.name.strip()
    if not name:
        raise InputError("the pushed person has no name")
    basis = LegalBasis(body.legal_basis)
    note = body.legal_basis_note or ""
    review_at = body.review_at
    incoming = {t.sha256: t for t in body.templates}
    with ctx.db.session() as s:
        person = s.scalar(select(Person).where(Person.hub_uid == uid))
        same_name = s.scalar(select(Person).where(Person.name == name))
        if same_name is not None and same_name is not person:
            raise InputError(
                f"site {ctx.site} has its own person named {name!r}; the hub's was not enrolled"
            )
        created = person is None
        if person is None:
            person = Person(name=name, created_by=_actor(body), hub_uid=uid)
            s.add(person)
        renamed = person.name != name
        person.name = name
        added = removed = 0
        have = {t.image_sha256: t for t in person.templates}
        for sha, old in have.items():
            if sha not in incoming:
                person.templates.remove(old)
                removed += 1
        for sha, t in incoming.items():
            row = have.get(sha)
            if row is None:
                row = Template(
                    embedding=base64.b64decode(t.embedding),
                    model=t.model,
                    image_sha256=sha,
                    quality=t.quality,
                    enrolled_by=_actor(body),
                )
                person.templates.append(row)
                added += 1
            row.legal_basis, row.legal_basis_note, row.review_at = basis, note, review_at
        s.flush()
        changed = created or renamed or added > 0 or removed > 0
        if changed:
            _audit(
                ctx,
                s,
                body,
                action=Action.enroll,
                target=("hub_person", uid),
                person=person.id,
                details={
                    "name": name,
                    "templates_added": added,
                    "templates_removed": removed,
                    "legal_basis": basis.value,
                    "legal_basis_note": note,
                    "requested_by": body.requested_by or body.enrolled_by or "",
                },
            )
        return wire.PersonPutReply(
            person_id=person.id, added=added, removed=removed, changed=changed
        )


def clear_identity(s: Session, person_id: int) -> int:
    """Take the person's identity off their past events (the events stay: footage facts)."""
    n = 0
    for e in s.scalars(select(Event).where(Event.person_id == person_id)):
        e.person_id, e.score, e.confidence = None, None, None
        if e.kind == EventKind.known_person:
            e.kind = EventKind.face
        e.details = {k: v for k, v in (e.details or {}).items() if k not in IDENTITY_DETAILS}
        n += 1
    return n


@register("person.remove", wire.Push)
def person_remove(ctx: CommandContext, body: wire.Push) -> wire.RemoveReply:
    uid = _uid(body)
    with ctx.db.session() as s:
        person = s.scalar(select(Person).where(Person.hub_uid == uid))
        if person is None:
            return wire.RemoveReply(removed=False)
        templates = len(person.templates)
        bases = sorted({t.legal_basis.value for t in person.templates})
        events = clear_identity(s, person.id)
        _audit(
            ctx,
            s,
            body,
            action=Action.remove_person,
            target=("hub_person", uid),
            person=person.id,
            details={
                "name": person.name,
                "templates": templates,
                "events_cleared": events,
                "legal_basis": ", ".join(bases),  # what the templates were held under
            },
        )
        s.delete(person)
        return wire.RemoveReply(removed=True, templates=templates, events_cleared=events)


@register("watchlist.put", wire.WatchlistPut)
def watchlist_put(ctx: CommandContext, body: wire.WatchlistPut) -> wire.WatchlistPutReply:
    uid, name = _uid(body), body.name.strip()
    if not name:
        raise InputError("the pushed watchlist has no name")
    action = WatchAction(body.action)
    confirmations = (
        default_confirmations(action)
        if body.confirmations_required is None
        else check_confirmations(body.confirmations_required)
    )
    wanted = set(body.members)
    with ctx.db.session() as s:
        w = s.scalar(select(Watchlist).where(Watchlist.hub_uid == uid))
        same_name = s.scalar(select(Watchlist).where(Watchlist.name == name))
        if same_name is not None and same_name is not w:
            raise InputError(f"site {ctx.site} has its own watchlist named {name!r}")
        created = w is None
        if w is None:
            w = Watchlist(name=name, action=action, hub_uid=uid)
            s.add(w)
            s.flush()
        before = (w.name, w.action, w.notes, w.confirmations_required)
        w.name, w.action, w.notes = name, action, body.notes or ""
        w.confirmations_required = confirmations
        people = {
            p.hub_uid: p.id
            for p in s.scalars(select(Person).where(Person.hub_uid.in_(wanted)))
            if p.hub_uid
        }
        members = {
            m.person_id: m
            for m in s.scalars(select(WatchlistMember).where(WatchlistMember.watchlist_id == w.id))
        }
        hub_people = set(
            s.scalars(
                select(Person.id).where(Person.id.in_(list(members)), Person.hub_uid.is_not(None))
            )
        )
        added = [pid for pid in people.values() if pid not in members]
        dropped = [pid for pid in hub_people if pid not in people.values()]  # site-local stay
        for pid in added:
            s.add(WatchlistMember(watchlist_id=w.id, person_id=pid))
        for pid in dropped:
            s.delete(members[pid])
        after = (w.name, w.action, w.notes, w.confirmations_required)
        changed = created or before != after or bool(added or dropped)
        if changed:
            _audit(
                ctx,
                s,
                body,
                action=Action.change_watchlist,
                target=("hub_watchlist", uid),
                details={
                    "name": name,
                    "action": action.value,
                    "confirmations_required": confirmations,
                    "members_added": len(added),
                    "members_removed": len(dropped),
                },
            )
        missing = sorted(wanted - set(people))
        return wire.WatchlistPutReply(watchlist_id=w.id, changed=changed, missing_members=missing)


@register("watchlist.remove", wire.Push)
def watchlist_remove(ctx: CommandContext, body: wire.Push) -> wire.RemoveReply:
    uid = _uid(body)
    with ctx.db.session() as s:
        w = s.scalar(select(Watchlist).where(Watchlist.hub_uid == uid))
        if w is None:
            return wire.RemoveReply(removed=False)
        _audit(
            ctx,
            s,
            body,
            action=Action.change_watchlist,
            target=("hub_watchlist", uid),
            details={"name": w.name, "change": "delete"},
        )
        s.delete(w)
        return wire.RemoveReply(removed=True)
