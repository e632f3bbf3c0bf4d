"""Who may learn who: the identity fields of events, and listing events by identity.

An event's identity (person name and id, match score and confidence) goes only to roles with
the `people` permission; every other role gets those fields as null, in lists, single events,
the event stream and the hub's views alike (`reveals_identity`, passed to `event_fields`, which
the site's and the hub's serializers share).
Narrowing events to identities (a person, or `kind=known_person`: every recognised person) is a
search by person: it needs a stated reason from every role and is audited as `search_person`;
filtering by one person also needs the `people` permission (`identity_search`); the site's and
the hub's event lists record that search the same way (`audit_identity_search`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import HTTPException, Request

from vigil.api.context import ApiContext
from vigil.api.deps import ROLE_PERMS, Perm, Principal, audit
from vigil.notify.push import Audience
from vigil.privacy.audit import Action
from vigil.store.models.events import EventKind

IDENTITY_KINDS = frozenset({EventKind.known_person.value})


def reveals_identity(p: Principal) -> bool:
    """Whether `p` may see who an event's person is."""
    return p.can(Perm.people)


def event_fields(
    e: Any, *, key: str, ident: object, name: str | None, reveal: bool
) -> dict[str, Any]:
    """The fields a site's event (`EventOut`) and a hub event (`HubEventOut`) show alike, from
    `e` (`Event`, `HubEvent`). The identity ones are None without `reveal`: `key` (person_id or
    person_uid) with `ident`, person (`name`), score and confidence."""
    return {
        "uid": e.uid,
        "camera": e.camera,
        "kind": str(e.kind),
        "start": e.start,
        "end": e.end,
        key: ident if reveal else None,
        "person": name if reveal else None,
        "score": e.score if reveal else None,
        "confidence": e.confidence if reveal else None,
        "zone": e.zone,
    }


def identity_kinds(kinds: Iterable[object]) -> list[str]:
    """The kinds among `kinds` that list identified people."""
    return sorted({str(k) for k in kinds} & IDENTITY_KINDS)


def identity_search(
    p: Principal, *, person: object | None, kinds: Iterable[object], reason: str | None
) -> str | None:
    """The stated reason when these filters list events by identity, None when they do not.

    403 when a role without the `people` permission filters by person; 422 without a reason
    (at least 3 characters)."""
    if person is None and not identity_kinds(kinds):
        return None
    if person is not None and not reveals_identity(p):
        raise HTTPException(403, f"the {p.role.value} role may not list events by person")
    reason = (reason or "").strip()
    if len(reason) < 3:
        raise HTTPException(
            422,
            "listing events by identity (a person, or kind=known_person) needs a stated reason "
            "(reason=..., at least 3 characters); it is audited",
        )
    return reason


def audit_identity_search(
    ctx: ApiContext,
    request: Request,
    p: Principal,
    reason: str,
    *,
    kinds: Iterable[object],
    results: int,
    cursor: str | None,
    camera: str | None,
    where: dict[str, object] | None = None,
    **target: object,
) -> None:
    """The `search_person` record of one page of events listed by identity (`reason` from
    `identity_search`): the filters, how many events it returned, whether it was a later page.
    `where`: more filters, first in the details (the hub's site); `target`: whom it was about
    (`person=`, or `target_kind=`/`target_id=`)."""
    audit(
        ctx,
        request,
        p,
        Action.search_person,
        reason=reason,
        camera=camera,
        details={
            **(where or {}),
            "results": results,
            "page": bool(cursor),
            "kinds": identity_kinds(kinds),
        },
        **target,
    )


def push_audience() -> Audience:
    """What a phone's owner may be told, by their role: events with `view`, names with `people`
    (as `reveals_identity`)."""
    return Audience(
        may_view=lambda role: Perm.view in ROLE_PERMS[role],
        sees_identities=lambda role: Perm.people in ROLE_PERMS[role],
    )
