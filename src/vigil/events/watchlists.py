"""Watchlists: named lists of enrolled people, each with an action for their events.

An action is `ignore`, `notify` or `alert`; a person on several lists gets the strongest
(`effective_action`), and a person on none is notified as usual. `confirmations_required`:
how many different people confirm a member's match before it is acted on
(`events.verification`); None when creating: the default for the action (2 for `alert`).
The event store reads a person's lists inside its own transaction (`actions_in`) when it
stores their event.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vigil.errors import InputError, NotFoundError
from vigil.events.verification import check_confirmations, default_confirmations
from vigil.store.db import Database
from vigil.store.models.events import WatchAction, Watchlist, WatchlistMember
from vigil.store.models.faces import Person

_STRENGTH = {WatchAction.ignore: 0, WatchAction.notify: 1, WatchAction.alert: 2}


def _get_watchlist(s: Session, name: str) -> Watchlist:
    wl = s.scalar(select(Watchlist).where(Watchlist.name == name))
    if wl is None:
        raise NotFoundError(f"no watchlist named {name!r}")
    return wl


def create_watchlist(
    db: Database,
    name: str,
    action: WatchAction | str,
    notes: str = "",
    confirmations_required: int | None = None,
) -> Watchlist:
    action = WatchAction(action)
    if confirmations_required is None:
        confirmations_required = default_confirmations(action)
    check_confirmations(confirmations_required)
    try:
        with db.session() as s:
            wl = Watchlist(
                name=name,
                action=action,
                notes=notes,
                confirmations_required=confirmations_required,
            )
            s.add(wl)
    except IntegrityError as exc:
        raise InputError(f"a watchlist named {name!r} already exists") from exc
    return wl


def list_watchlists(db: Database) -> list[Watchlist]:
    with db.session() as s:
        return list(s.scalars(select(Watchlist).order_by(Watchlist.name)))


def update_watchlist(
    db: Database,
    name: str,
    *,
    action: WatchAction | str | None = None,
    new_name: str | None = None,
    notes: str | None = None,
    confirmations_required: int | None = None,
) -> Watchlist:
    if confirmations_required is not None:
        check_confirmations(confirmations_required)
    try:
        with db.session() as s:
            wl = _get_watchlist(s, name)
            if confirmations_required is not None:
                wl.confirmations_required = confirmations_required
            if action is not None:
                wl.action = WatchAction(action)
            if new_name is not None:
                wl.name = new_name
            if notes is not None:
                wl.notes = notes
    except IntegrityError as exc:
        raise InputError(f"a watchlist named {new_name!r} already exists") from exc
    return wl


def delete_watchlist(db: Database, name: str) -> None:
    with db.session() as s:
        s.delete(_get_watchlist(s, name))


def add_to_watchlist(db: Database, name: str, person_id: int) -> None:
    """Idempotent."""
    with db.session() as s:
        wl = _get_watchlist(s, name)
        if s.get(Person, person_id) is None:
            raise NotFoundError(f"no person with id {person_id}")
        if s.get(WatchlistMember, (wl.id, person_id)) is None:
            s.add(WatchlistMember(watchlist_id=wl.id, person_id=person_id))


def remove_from_watchlist(db: Database, name: str, person_id: int) -> bool:
    """True if the person was on the list."""
    with db.session() as s:
        wl = _get_watchlist(s, name)
        member = s.get(WatchlistMember, (wl.id, person_id))
        if member is None:
            return False
        s.delete(member)
        return True


def watchlist_members(db: Database, name: str) -> list[int]:
    with db.session() as s:
        wl = _get_watchlist(s, name)
        q = select(WatchlistMember.person_id).where(WatchlistMember.watchlist_id == wl.id)
        return sorted(s.scalars(q))


def actions_in(s: Session, person_id: int) -> dict[str, WatchAction]:
    """`actions_for` inside the caller's session (the event store's transaction)."""
    q = (
        select(Watchlist.name, Watchlist.action)
        .join(WatchlistMember, WatchlistMember.watchlist_id == Watchlist.id)
        .where(WatchlistMember.person_id == person_id)
    )
    return {name: WatchAction(action) for name, action in s.execute(q)}


def actions_for(db: Database, person_id: int) -> dict[str, WatchAction]:
    """The watchlists (name -> action) a person is on; empty when on none."""
    with db.session() as s:
        return actions_in(s, person_id)


def effective_action(actions: Iterable[WatchAction]) -> WatchAction:
    """The strongest of a person's actions (alert > notify > ignore); notify when none."""
    return max(actions, key=_STRENGTH.__getitem__, default=WatchAction.notify)
