"""Zone occupancy over time: the zone monitor's "people inside now", stored per time bucket.

`OccupancyRecorder.update(t, occupancy)` is called once per analysed frame with
`ZoneMonitor.occupancy` (confirmed person tracks with their feet inside, per zone). For each
zone and bucket (`bucket_s`, a minute by default, aligned to the epoch) it keeps:
- `seconds`: analysed time inside the bucket (a gap over `MAX_GAP_S` between frames, a
  camera offline, is not counted);
- `mean_people`: people x seconds / seconds (each interval between two frames holds the
  count seen at its start, as `ZoneMonitor.person_s` does), the newest count when no time
  is covered yet;
- `max_people`: the most at once at any frame in the bucket, or held into it from before;
- `now_people`: the count at the newest frame (`updated_at`).

The open bucket is written (upserted on camera, zone, start) at most every `flush_s` and
when it closes, so the newest row of a zone is its live count within `flush_s`, from any
process that reads the database. `on_change(camera, zone, people)` hears each change of a
zone's count at once (retained MQTT). Counts only: no track, box or identity is stored.

`occupancy_series` reads a range back per zone (live count, maximum, mean, the series merged
into at most `MAX_POINTS` steps); `max_by_zone` gives a report's maximum per zone.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from vigil.store.db import Database
from vigil.store.models.zones import ZoneOccupancy

log = logging.getLogger(__name__)

MAX_GAP_S = 10.0  # as the zone monitor: no frame for this long is a hole, not occupancy
BUCKET_S = 60
FLUSH_S = 10.0

OccupancyListener = Callable[[str, str, int], None]


@dataclass
class Bucket:
    zone: str
    start: float  # POSIX seconds, a multiple of bucket_s
    seconds: float = 0.0
    person_s: float = 0.0
    max_people: int = 0
    now_people: int = 0
    last_t: float = 0.0

    @property
    def mean_people(self) -> float:
        return self.person_s / self.seconds if self.seconds > 0 else float(self.now_people)


class OccupancyRecorder:
    def __init__(
        self,
        camera: str,
        db: Database | None = None,
        *,
        bucket_s: int = BUCKET_S,
        flush_s: float = FLUSH_S,
        on_change: OccupancyListener | None = None,
    ) -> None:
        if bucket_s < 1:
            raise ValueError("bucket_s must be at least 1 second")
        self.camera = camera
        self.db = db
        self.bucket_s = int(bucket_s)
        self.flush_s = flush_s
        self.on_change = on_change
        self.open: dict[str, Bucket] = {}  # zone -> its bucket being filled
        self.closed: list[Bucket] = []  # kept only without a database (tests, offline)
        self._last: dict[str, int] = {}  # zone -> count at the previous frame
        self._last_t: float | None = None
        self._flushed_t = -math.inf

    def _start(self, t: float) -> float:
        return math.floor(t / self.bucket_s) * self.bucket_s

    def update(self, t: float, occupancy: Mapping[str, int]) -> None:
        """One analysed frame at `t` (POSIX seconds): `occupancy` maps each zone to the people
        inside now; zones missing from it (removed, or no zones) have their bucket closed."""
        step_from = self._last_t
        if step_from is not None and not 0 < t - step_from <= MAX_GAP_S:
            step_from = None  # a hole (or time went back): nothing is held across it
        done: list[Bucket] = [b for z, b in self.open.items() if z not in occupancy]
        for zone, n in occupancy.items():
            n = int(n)
            before = self._last.get(zone)
            if step_from is not None and before is not None:
                done += self._hold(zone, before, step_from, t)
            bucket = self.open.get(zone)
            start = self._start(t)
            if bucket is None or bucket.start != start:
                if bucket is not None:
                    done.append(bucket)
                bucket = self.open[zone] = Bucket(zone, start)
            bucket.max_people = max(bucket.max_people, n)
            bucket.now_people, bucket.last_t = n, t
            if before != n and self.on_change is not None:
                try:
                    self.on_change(self.camera, zone, n)
                except Exception:  # a listener must not stop the analysis
                    log.exception("occupancy listener failed for %s/%s", self.camera, zone)
        for zone in [z for z in self.open if z not in occupancy]:
            del self.open[zone]
        self._last = {z: int(n) for z, n in occupancy.items()}
        self._last_t = t
        if done or t - self._flushed_t >= self.flush_s:
            self._write(done + list(self.open.values()))
            self._flushed_t = t

    def _hold(self, zone: str, n: int, a: float, b: float) -> list[Bucket]:
        """The interval [a, b) held `n` people: counted into each bucket it covers. Returns
        the buckets it finished (all but the one holding `b`)."""
        done: list[Bucket] = []
        bucket = self.open.get(zone)
        while a < b:
            start = self._start(a)
            if bucket is None or bucket.start != start:
                if bucket is not None:
                    done.append(bucket)
                bucket = Bucket(zone, start, now_people=n, last_t=a)
            piece = min(b, start + self.bucket_s) - a
            bucket.seconds += piece
            bucket.person_s += n * piece
            bucket.max_people = max(bucket.max_people, n)
            a += piece
        if bucket is not None:
            if bucket.start == self._start(b):
                self.open[zone] = bucket
            else:  # b sits exactly on a boundary: the next bucket starts empty
                done.append(bucket)
                self.open.pop(zone, None)
        return done

    def finish(self) -> None:
        """The stream stopped: write and close every open bucket."""
        done = list(self.open.values())
        self.open.clear()
        self._last.clear()
        self._last_t = None
        self._write(done)

    def _write(self, buckets: list[Bucket]) -> None:
        if not buckets:
            return
        if self.db is None:
            merged = {(b.zone, b.start): b for b in self.closed}
            for b in buckets:
                merged[(b.zone, b.start)] = b
            self.closed = sorted(merged.values(), key=lambda b: (b.start, b.zone))
            return
        try:
            store_buckets(self.db, self.camera, self.bucket_s, buckets)
        except Exception:  # tried again at the next flush; the analysis goes on
            log.exception("storing zone occupancy of %s failed", self.camera)


def _utc(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def store_buckets(db: Database, camera: str, bucket_s: int, buckets: list[Bucket]) -> None:
    """Insert or replace each bucket's row (camera, zone, start), in one transaction."""
    with db.session() as s:
        for b in buckets:
            start = _utc(b.start)
            row = s.scalars(
                select(ZoneOccupancy).where(
                    ZoneOccupancy.camera == camera,
                    ZoneOccupancy.zone == b.zone,
                    ZoneOccupancy.start == start,
                )
            ).one_or_none()
            if row is None:
                row = ZoneOccupancy(camera=camera, zone=b.zone, start=start)
                s.add(row)
            row.bucket_s = bucket_s
            row.seconds = round(b.seconds, 3)
            row.max_people = b.max_people
            row.mean_people = round(b.mean_people, 3)
            row.now_people = b.now_people
            row.updated_at = _utc(b.last_t)


LIVE_S = 60.0  # a zone's newest row written this recently gives its live count
MAX_POINTS = 1440  # per zone and query: longer ranges are merged into wider steps


@dataclass
class OccupancyPoint:
    start: datetime
    seconds: float
    max_people: int
    mean_people: float


@dataclass
class ZoneSeries:
    zone: str
    now: int | None  # people inside now; None when nothing was written in the last LIVE_S
    now_at: datetime | None
    max_people: int  # the most at once in the range
    max_at: datetime | None  # the start of the first bucket that held it
    mean_people: float  # over the seconds analysed in the range
    seconds: float
    points: list[OccupancyPoint]


def occupancy_series(
    db: Database,
    camera: str,
    start: datetime,
    end: datetime,
    zones: list[str] | None = None,
    *,
    now: datetime | None = None,
) -> tuple[int, list[ZoneSeries]]:
    """Per zone (each of `zones`, even without rows, then any other zone stored in the range):
    the buckets starting in [start, end) merged into steps of whole buckets (at most
    `MAX_POINTS` a zone), the range's maximum and mean, and the live count. Returns the step
    in seconds and the series."""
    now = now or datetime.now(UTC)
    with db.session() as s:
        rows = s.scalars(
            select(ZoneOccupancy)
            .where(
                ZoneOccupancy.camera == camera,
                ZoneOccupancy.start >= start,
                ZoneOccupancy.start < end,
            )
            .order_by(ZoneOccupancy.start)
        ).all()
        recent = s.scalars(
            select(ZoneOccupancy).where(
                ZoneOccupancy.camera == camera,
                ZoneOccupancy.updated_at >= now - timedelta(seconds=LIVE_S),
            )
        ).all()
    bucket_s = max((r.bucket_s for r in rows), default=BUCKET_S)
    span = (end - start).total_seconds()
    step = bucket_s * max(1, math.ceil(span / bucket_s / MAX_POINTS))
    live: dict[str, ZoneOccupancy] = {}
    for r in recent:
        if r.zone not in live or r.updated_at > live[r.zone].updated_at:
            live[r.zone] = r
    names = list(zones or [])
    names += sorted({r.zone for r in rows} - set(names))
    out = []
    for zone in names:
        mine = [r for r in rows if r.zone == zone]
        steps: dict[float, list[ZoneOccupancy]] = {}
        for r in mine:
            steps.setdefault(math.floor(r.start.timestamp() / step) * step, []).append(r)
        points = [
            OccupancyPoint(
                _utc(t),
                round(sum(r.seconds for r in group), 3),
                max(r.max_people for r in group),
                round(_mean(group), 3),
            )
            for t, group in sorted(steps.items())
        ]
        top = max(mine, key=lambda r: r.max_people, default=None)
        current = live.get(zone)
        out.append(
            ZoneSeries(
                zone=zone,
                now=current.now_people if current else None,
                now_at=current.updated_at if current else None,
                max_people=top.max_people if top else 0,
                max_at=top.start if top else None,
                mean_people=round(_mean(mine), 3),
                seconds=round(sum(r.seconds for r in mine), 3),
                points=points,
            )
        )
    return step, out


def _mean(rows: list[ZoneOccupancy]) -> float:
    seconds = sum(r.seconds for r in rows)
    if seconds > 0:
        return sum(r.mean_people * r.seconds for r in rows) / seconds
    return sum(r.mean_people for r in rows) / len(rows) if rows else 0.0


def max_by_zone(db: Database, camera: str, start: datetime, end: datetime) -> dict[str, int]:
    """The most people at once per zone in buckets starting in [start, end) (reports)."""
    with db.session() as s:
        rows = s.execute(
            select(ZoneOccupancy.zone, func.max(ZoneOccupancy.max_people))
            .where(
                ZoneOccupancy.camera == camera,
                ZoneOccupancy.start >= start,
                ZoneOccupancy.start < end,
            )
            .group_by(ZoneOccupancy.zone)
        ).all()
    return {zone: int(n or 0) for zone, n in rows}
