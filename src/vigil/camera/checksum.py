"""Segment checksums and the record of lost footage.

A segment's SHA-256 is taken while it is written (`StreamHash`, fed by the segment writer's
own writes, so closing costs no extra read) and stored in its index row. Later the file is
checked against it: by the scrub (`camera/scrub.py`) and by every export.

Footage lost after it was recorded is a `SegmentProblem` row: `missing` (the file is gone:
found by retention's sweep or the repair on start) or `damaged` (it no longer matches its
checksum). A problem stays, also after the segment's own row is gone, until an operator
acknowledges it (`acknowledge`, audited by its callers); the same file and kind is recorded
once.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from vigil.store.db import Database
from vigil.store.models.camera import Segment, SegmentProblem

MISSING = "missing"
DAMAGED = "damaged"
CHUNK = 1 << 20


class StreamHash:
    """SHA-256 of a file written front to back, fed with each write at its position.

    A write that lands on bytes already hashed (the muxer went back to patch a header) makes
    the running hash useless: `hexdigest()` then answers None and the caller hashes the file."""

    def __init__(self) -> None:
        self._h = hashlib.sha256()
        self.hashed = 0  # bytes fed so far: the file's first `hashed` bytes
        self.valid = True

    def wrote(self, pos: int, data: memoryview | bytes) -> None:
        n = len(data)
        if pos == self.hashed:
            self._h.update(data)
            self.hashed += n
        elif pos < self.hashed or pos > self.hashed:  # rewrite, or a hole left behind
            self.valid = False

    def hexdigest(self, size: int) -> str | None:
        """The file's SHA-256 if the file is exactly what was fed (`size` bytes long)."""
        if not self.valid or size != self.hashed:
            return None
        return self._h.hexdigest()


class Throttle:
    """Sleeps so that bytes go by at most `rate` per second (None or 0: no limit)."""

    def __init__(self, rate: float | None, stop: threading.Event | None = None) -> None:
        self.rate = rate or None
        self.stop = stop
        self.t0 = time.monotonic()
        self.done = 0

    def take(self, n: int) -> None:
        self.done += n
        if self.rate is None:
            return
        ahead = self.done / self.rate - (time.monotonic() - self.t0)
        if ahead > 0:
            if self.stop is not None:
                self.stop.wait(ahead)
            else:
                time.sleep(ahead)


class Stopped(Exception):
    """Hashing was asked to stop (the scrub's scheduler is stopping)."""


def file_sha256(
    path: Path,
    *,
    throttle: Throttle | None = None,
    on_bytes: Callable[[int], None] | None = None,
) -> str:
    """SHA-256 (hex) of a file, read in 1 MiB blocks, paced by `throttle`."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            h.update(block)
            if throttle is not None:
                if throttle.stop is not None and throttle.stop.is_set():
                    raise Stopped
                throttle.take(len(block))
            if on_bytes is not None:
                on_bytes(len(block))
    return h.hexdigest()


def check_file(path: Path, expected: str | None, **kw: Any) -> str | None:
    """Why `path` does not hold the footage its checksum vouches for, or None when it does
    (or when there is no checksum to check against)."""
    try:
        actual = file_sha256(path, **kw)
    except FileNotFoundError:
        return "the file is gone"
    except OSError as exc:
        return f"cannot be read: {exc.strerror or exc}"
    if expected is not None and actual != expected:
        return f"SHA-256 {actual[:12]}… differs from {expected[:12]}… recorded when it closed"
    return None


# --- the record of lost footage -------------------------------------------------------------


def record_problem(
    where: Database | Session,
    *,
    camera: str,
    path: str,
    start: datetime,
    end: datetime,
    kind: str,
    detail: str = "",
    found_by: str = "",
    now: datetime | None = None,
) -> bool:
    """Record that a segment is missing or damaged; False when it already was (acknowledged
    or not). A `Session` joins the caller's transaction (a row deleted with its record)."""
    if isinstance(where, Database):
        with where.session() as s:
            return record_problem(
                s, camera=camera, path=path, start=start, end=end, kind=kind, detail=detail,
                found_by=found_by, now=now,
            )  # fmt: skip
    s = where
    known = s.scalar(
        select(SegmentProblem.id).where(SegmentProblem.path == path, SegmentProblem.kind == kind)
    )
    if known is not None:
        return False
    s.add(
        SegmentProblem(
            camera=camera,
            path=path,
            start=start,
            end=end,
            kind=kind,
            detail=detail,
            found_at=now or datetime.now(UTC),
            found_by=found_by,
        )
    )
    s.flush()
    return True


@dataclass
class Problem:
    id: int
    camera: str
    path: str
    start: datetime
    end: datetime
    kind: str
    detail: str
    found_at: datetime
    found_by: str
    acknowledged_at: datetime | None
    acknowledged_by: str
    note: str

    def as_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        for k in ("start", "end", "found_at", "acknowledged_at"):
            d[k] = d[k].isoformat() if d[k] else None
        return d


def _problem(r: SegmentProblem) -> Problem:
    return Problem(
        r.id, r.camera, r.path, r.start, r.end, r.kind, r.detail, r.found_at, r.found_by,
        r.acknowledged_at, r.acknowledged_by, r.note,
    )  # fmt: skip


def list_problems(
    db: Database,
    *,
    camera: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    include_acknowledged: bool = False,
    limit: int | None = None,
) -> list[Problem]:
    """Problems, oldest footage first; by default only those nobody acknowledged yet."""
    q = select(SegmentProblem)
    if camera is not None:
        q = q.where(SegmentProblem.camera == camera)
    if start is not None:
        q = q.where(SegmentProblem.end > start)
    if end is not None:
        q = q.where(SegmentProblem.start < end)
    if not include_acknowledged:
        q = q.where(SegmentProblem.acknowledged_at.is_(None))
    q = q.order_by(SegmentProblem.start, SegmentProblem.id)
    if limit is not None:
        q = q.limit(limit)
    with db.session() as s:
        return [_problem(r) for r in s.scalars(q)]


def problem_counts(db: Database) -> dict[str, dict[str, int]]:
    """Unacknowledged problems per camera: {camera: {"missing": n, "damaged": n}}."""
    with db.session() as s:
        rows = s.execute(
            select(SegmentProblem.camera, SegmentProblem.kind, func.count())
            .where(SegmentProblem.acknowledged_at.is_(None))
            .group_by(SegmentProblem.camera, SegmentProblem.kind)
        ).all()
    out: dict[str, dict[str, int]] = {}
    for cam, kind, n in rows:
        out.setdefault(cam, {MISSING: 0, DAMAGED: 0})[kind] = int(n)
    return out


def acknowledge(
    db: Database,
    *,
    by: str,
    note: str,
    camera: str | None = None,
    ids: Iterable[int] | None = None,
    now: datetime | None = None,
) -> list[Problem]:
    """Mark unacknowledged problems (these `ids`, or every one of `camera`, or all) as seen by
    `by`; returns those it marked. The caller audits it."""
    if not note.strip():
        raise ValueError("acknowledging lost footage needs a note (what was done about it)")
    q = select(SegmentProblem).where(SegmentProblem.acknowledged_at.is_(None))
    if camera is not None:
        q = q.where(SegmentProblem.camera == camera)
    if ids is not None:
        q = q.where(SegmentProblem.id.in_(list(ids)))
    when = now or datetime.now(UTC)
    with db.session() as s:
        rows = list(s.scalars(q.order_by(SegmentProblem.id)))
        if rows:
            s.execute(
                update(SegmentProblem)
                .where(SegmentProblem.id.in_([r.id for r in rows]))
                .values(acknowledged_at=when, acknowledged_by=by, note=note)
            )
        marked = [_problem(r) for r in rows]
    for p in marked:
        p.acknowledged_at, p.acknowledged_by, p.note = when, by, note
    return marked


def record_missing_rows(s: Session, rows: Iterable[Segment], found_by: str) -> None:
    """Inside the caller's transaction: the rows about to be deleted because their file is
    gone, recorded as missing footage."""
    for row in rows:
        record_problem(
            s,
            camera=row.camera,
            path=row.path,
            start=row.start,
            end=row.end,
            kind=MISSING,
            detail=f"{row.size_bytes} bytes, gone from the disk",
            found_by=found_by,
        )
