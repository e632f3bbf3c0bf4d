"""Keyset paging newest first by (start, id): the events list on a site and at the hub.

A cursor is `<start ISO>|<id>` of the last row of a page; the next page holds the rows strictly
older than it, so rows inserted meanwhile never shift a page."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol, TypeVar

from sqlalchemy import Select, and_, or_

from vigil.errors import InputError


class Keyed(Protocol):
    start: datetime
    id: int


R = TypeVar("R", bound=Keyed)


def _decode(cursor: str) -> tuple[datetime, int]:
    try:
        start, ident = cursor.rsplit("|", 1)
        return datetime.fromisoformat(start), int(ident)
    except ValueError as exc:
        raise InputError(f"not a valid events cursor: {cursor!r}") from exc


def newest_first(q: Select[Any], model: Any, *, limit: int, cursor: str | None) -> Select[Any]:
    """`q` ordered by `model.start`, `model.id` descending, after `cursor`, one row more than
    `limit` (so `page` can tell whether another page follows)."""
    if cursor is not None:
        c_start, c_id = _decode(cursor)
        q = q.where(or_(model.start < c_start, and_(model.start == c_start, model.id < c_id)))
    return q.order_by(model.start.desc(), model.id.desc()).limit(limit + 1)


def page(rows: list[R], limit: int) -> tuple[list[R], str | None]:
    """The rows of a page read with `newest_first`, and the cursor of the next (None: last)."""
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    return rows[:limit], f"{last.start.isoformat()}|{last.id}"
