"""Keyset paging newest first by (start, id), and the filters every event list shares: the
events list on a site and at the hub (`where_events`, `read_page`), review items.

A cursor is `<start ISO>|<id>` of the last row of a page; the next page holds the rows strictly
older than it, so rows inserted meanwhile never shift a page. `parse_cursor` is the one parser of
cursors a client sends back: the time must carry a zone and lie in `times.utc_instant`'s range,
the id must fit a database integer; anything else is an InputError (422 in the API)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol, TypeVar

from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import Session

from vigil.errors import InputError
from vigil.store.times import utc_instant

MAX_ID = 2**63 - 1  # database integer keys
_ID = re.compile(r"[0-9]{1,19}")


class Keyed(Protocol):
    start: datetime
    id: int


R = TypeVar("R", bound=Keyed)


def parse_cursor(cursor: str) -> tuple[datetime, int]:
    """(start in UTC, id) of a cursor made by `page`; InputError saying what is wrong."""
    start, sep, ident = cursor.rpartition("|")
    try:
        if not sep:
            raise ValueError("expected <time>|<id>")
        if not _ID.fullmatch(ident) or not 1 <= int(ident) <= MAX_ID:
            raise ValueError(f"the id must be a whole number from 1 to {MAX_ID}")
        return utc_instant(datetime.fromisoformat(start)), int(ident)
    except ValueError as exc:
        raise InputError(f"not a valid cursor ({exc}): {cursor[:80]!r}") from None


def newest_first(q: Select[Any], model: Any, *, limit: int, cursor: str | None) -> Select[Any]:
    """`q` ordered by `model.start`, `model.id` descending, after `cursor`, one row more than
    `limit` (so `page` can tell whether another page follows)."""
    if cursor is not None:
        c_start, c_id = parse_cursor(cursor)
        q = q.where(or_(model.start < c_start, and_(model.start == c_start, model.id < c_id)))
    return q.order_by(model.start.desc(), model.id.desc()).limit(limit + 1)


def page(rows: list[R], limit: int) -> tuple[list[R], str | None]:
    """The rows of a page read with `newest_first`, and the cursor of the next (None: last)."""
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    return rows[:limit], f"{last.start.isoformat()}|{last.id}"


def where_events(
    q: Select[Any],
    model: Any,
    *,
    camera: str | None = None,
    kinds: Sequence[object] = (),
    since: datetime | None = None,
    until: datetime | None = None,
) -> Select[Any]:
    """`q` narrowed to one camera, the `kinds` (empty: every kind) and a start in
    [`since`, `until`): the filters of a site's and the hub's event lists (`model`: `Event` or
    `HubEvent`; `kinds` as the model's column takes them)."""
    if camera is not None:
        q = q.where(model.camera == camera)
    if kinds:
        q = q.where(model.kind.in_(kinds))
    if since is not None:
        q = q.where(model.start >= since)
    if until is not None:
        q = q.where(model.start < until)
    return q


def read_page(
    s: Session, q: Select[Any], model: Any, *, limit: int, cursor: str | None
) -> tuple[list[Any], str | None]:
    """One page of `q` newest first after `cursor`, and the cursor of the next (None: last)."""
    return page(list(s.scalars(newest_first(q, model, limit=limit, cursor=cursor))), limit)
