"""The scrub: closed segments re-read and checked against the SHA-256 taken when they closed.

A pass (`scrub`) takes every complete segment, the longest unchecked first, hashes its file at
most `rate` bytes per second (the recorders need the disk more), and:
- the same hash: `verified_at` is set;
- another hash: the segment is recorded as `damaged` (`camera.checksum`), kept until an
  operator acknowledges it; its row stays (what still plays, plays);
- no hash yet (footage from before checksums): the hash is taken now, so later damage shows;
- file gone: left to retention's sweep, which records it as missing.

`schedule_scrub` puts passes on the node's maintenance scheduler (`vigil serve`), pausing
`scrub_interval_s` between them; `vigil segments scrub` runs one on demand with a progress bar.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from vigil.camera.checksum import DAMAGED, Stopped, Throttle, check_file, file_sha256
from vigil.camera.checksum import record_problem as _record
from vigil.camera.index import recordings_dir
from vigil.config import RecordingConfig
from vigil.maintenance import Job, Scheduler
from vigil.store.db import Database
from vigil.store.models.camera import Segment

log = logging.getLogger(__name__)

LISTED = 50


@dataclass
class ScrubReport:
    segments: int = 0  # looked at
    bytes: int = 0  # read
    verified: int = 0  # matched their checksum
    hashed: int = 0  # had none: taken now
    damaged: list[str] = field(default_factory=list)  # newly found (first LISTED)
    damaged_count: int = 0
    skipped: int = 0  # file gone (retention records it) or unreadable
    stopped: bool = False  # the pass was asked to stop before the end
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _candidates(db: Database, cameras: list[str] | None) -> list[Any]:
    q = select(
        Segment.id,
        Segment.camera,
        Segment.path,
        Segment.start,
        Segment.end,
        Segment.size_bytes,
        Segment.sha256,
    ).where(Segment.complete.is_(True))
    if cameras:
        q = q.where(Segment.camera.in_(cameras))
    # never checked first (NULL sorts first on SQLite and with nulls_first elsewhere)
    q = q.order_by(Segment.verified_at.asc().nulls_first(), Segment.start)
    with db.session() as s:
        return list(s.execute(q).all())


def total_bytes(db: Database, cameras: list[str] | None = None) -> int:
    return sum(int(r.size_bytes or 0) for r in _candidates(db, cameras))


def scrub(
    db: Database,
    data_dir: Path,
    *,
    rate: float | None,
    cameras: list[str] | None = None,
    stop: threading.Event | None = None,
    on_bytes: Callable[[int], None] | None = None,
) -> ScrubReport:
    """One pass over the closed segments (see the module doc). `rate`: bytes per second at
    most (None or 0: as fast as the disk goes). `stop` ends it between blocks."""
    t0 = time.monotonic()
    root = recordings_dir(data_dir)
    report = ScrubReport()
    throttle = Throttle(rate, stop)
    for row in _candidates(db, cameras):
        if stop is not None and stop.is_set():
            report.stopped = True
            break
        path = root / row.path
        if not path.is_file():
            report.skipped += 1
            continue
        report.segments += 1
        before = throttle.done
        try:
            if row.sha256 is None:
                digest = file_sha256(path, throttle=throttle, on_bytes=on_bytes)
                problem = None
            else:
                digest = row.sha256
                problem = check_file(path, row.sha256, throttle=throttle, on_bytes=on_bytes)
        except Stopped:
            report.stopped = True
            break
        except OSError as exc:
            log.warning("scrub: cannot read %s: %s", row.path, exc)
            report.skipped += 1
            continue
        finally:
            report.bytes += throttle.done - before
        now = datetime.now(UTC)
        if problem == "the file is gone":
            report.skipped += 1
            continue
        with db.session() as s:
            if problem is None:
                s.execute(
                    update(Segment)
                    .where(Segment.id == row.id)
                    .values(verified_at=now, sha256=digest)
                )
                if row.sha256 is None:
                    report.hashed += 1
                else:
                    report.verified += 1
                continue
            s.execute(update(Segment).where(Segment.id == row.id).values(verified_at=now))
            new = _record(
                s,
                camera=row.camera,
                path=row.path,
                start=row.start,
                end=row.end,
                kind=DAMAGED,
                detail=problem,
                found_by="scrub",
                now=now,
            )
        if new:
            log.error("segment %s is damaged: %s", row.path, problem)
            report.damaged_count += 1
            if len(report.damaged) < LISTED:
                report.damaged.append(row.path)
    report.seconds = round(time.monotonic() - t0, 3)
    return report


def schedule_scrub(
    scheduler: Scheduler,
    db: Database,
    data_dir: Path,
    recording: RecordingConfig,
    *,
    first_after_s: float = 60.0,
) -> Job | None:
    """Scrub passes on a node's `scheduler`: the first after `first_after_s`, then one
    `scrub_interval_s` after each ends, at `scrub_bytes_per_s` (0: never, and None). A pass
    ends between blocks when the scheduler stops."""
    if recording.scrub_bytes_per_s <= 0:
        return None

    def one_pass() -> ScrubReport:
        r = scrub(db, data_dir, rate=recording.scrub_bytes_per_s, stop=scheduler.stopping)
        log.info(
            "scrub: %d segment(s), %.1f MB in %.0f s; %d damaged",
            r.segments,
            r.bytes / 1e6,
            r.seconds,
            r.damaged_count,
        )
        return r

    return scheduler.add(
        "scrub", one_pass, every_s=recording.scrub_interval_s, first_after_s=first_after_s
    )
