"""Instants that come from outside (query parameters, request bodies, cursors): aware, in UTC,
within a range every backend and `datetime` arithmetic can hold.

A time such as `0001-01-01T00:00:00+14:00` parses, but is before year 1 in UTC; `9999-12-31T
23:59:59-14:00` is after year 9999. Both are refused here, with a sentence, instead of failing
later in a conversion or a database driver."""

from __future__ import annotations

from datetime import UTC, datetime

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(3000, 1, 1, tzinfo=UTC)  # exclusive


def utc_instant(t: datetime) -> datetime:
    """`t` in UTC; ValueError when it has no timezone or lies outside EARLIEST..LATEST."""
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError("needs a timezone (e.g. 2026-01-01T10:00:00Z or +01:00)")
    try:
        u = t.astimezone(UTC)
    except OverflowError:
        u = None
    if u is None or not EARLIEST <= u < LATEST:
        raise ValueError(
            f"must lie between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d} (UTC); got {t.isoformat()}"
        )
    return u
