"""Where the hub's people and watchlists belong, and what is queued to put them there.

Placement rule: a person goes to the sites named by the watchlists they are on, and nowhere
else; a watchlist goes to the sites it names. `reconcile` compares what the watchlists ask for
with what was already sent (`hub_placements`) and queues a `person.put` / `watchlist.put` for
what is new or changed and a `.remove` for what no longer belongs (`hub_pushes`, sent by
`pusher.HubPusher`). Pushes are idempotent by uid; a newer push of the same uid to a site
replaces an older one still waiting, so a site that was offline gets the last state when it is
back. A `person.put` carries the reason, requester and legal basis of the person's latest
enrolment at the hub (from the hub's audit log), so the site's audit record of the push says
them.

Deletions made at a site (an operator, an erasure) come back through what already flows: the
site's audit records, pulled over JetStream into `hub_audit_records` (acked after the hub's
commit, so nothing is lost while a link is down). `note_site_audit` reads them: the site's
record of a push names the person's id there, and a later local `remove_person` of that id
marks the placement removed. Such a person is not pushed to that site again until they are
enrolled at the hub anew (a reasoned, audited act).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from vigil.hub.actor import Actor
from vigil.privacy.audit import Action
from vigil.store.db import Database
from vigil.store.models.audit import AuditRecord
from vigil.store.models.hub import (
    HubAuditRecord,
    HubPerson,
    HubPlacement,
    HubPush,
    HubWatchlist,
    HubWatchlistMember,
    HubWatchlistSite,
)
from vigil.sync import wire


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
        confirmations_required=w.confirmations_required,
        by=actor.user,
    )


def queue_push(s: Session, site: str, verb: str, uid: str, body: wire.Push) -> None:
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
        body: wire.Push
        if kind == "person":
            body = person_body(people_rows[uid], actor, enrolments.get(uid))
        else:
            body = watchlist_body(s, list_rows[uid], actor)
        queue_push(s, site, f"{kind}.put", uid, body)
        if (site, kind, uid) in site_removed:
            row = site_removed[(site, kind, uid)]
            row.removed_at = row.removed_seq = row.site_person_id = None
        elif (site, kind, uid) not in placed:
            s.add(HubPlacement(site=site, kind=kind, uid=uid))
        queued += 1
    for site, kind, uid in gone:
        queue_push(s, site, f"{kind}.remove", uid, wire.Push(uid=uid, by=actor.user, reason=reason))
        s.execute(
            delete(HubPlacement).where(
                HubPlacement.site == site, HubPlacement.kind == kind, HubPlacement.uid == uid
            )
        )
        queued += 1
    return queued


_REMOVALS = (Action.remove_person.value, Action.consent_withdrawn.value)
_GALLERY_ACTIONS = (Action.enroll.value, *_REMOVALS)


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
    if r["action"] not in _REMOVALS or person is None:
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
