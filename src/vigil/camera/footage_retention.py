"""Retention: per-camera age limits, a global disk quota, free-space floor, evidence locks.

One pass (`run_retention`):
1. expired evidence locks are cleared (a lock lasts until `locked_until` unless renewed);
2. index rows whose file is gone are removed and reported (and kept as missing footage,
   `segment_problems`, until an operator acknowledges it);
3. footage older than its camera's `retention_days` is deleted;
4. while recordings use more than `disk_quota_gb`, the oldest unlocked footage of any camera
   is deleted -- but only when deleting all that may go can bring them under it;
5. while the filesystem has less than `min_free_gb` free, the oldest unlocked footage older
   than its camera's `keep_at_least_hours` is deleted -- again only when that can restore
   the free space: footage is never wiped for space that other files took;
6. a limit that deleting cannot meet raises an alarm naming who uses the disk (Vigil's
   footage, its other data under data_dir, other files); `disk_state` then tells the
   recorder to stop writing, and the next pass that finds the limits met clears it.

Only complete segments are deleted: the one a recorder is writing is never touched. Each
pass is written to `<data_dir>/retention.json` (last run, what was removed, oldest footage
kept and disk use per camera, the last few runs), so an operator can see retention is alive.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, false, func, or_, select, update

from vigil.camera.checksum import record_missing_rows
from vigil.camera.index import recordings_dir
from vigil.config import CameraConfig, RecordingConfig
from vigil.files import bytes_under, write_atomic
from vigil.maintenance import Job, Scheduler
from vigil.store.db import Database, rowcount
from vigil.store.models.camera import Segment

log = logging.getLogger(__name__)

REPORT_FILE = "retention.json"
GB = 1_000_000_000
DEFAULT_RETENTION_DAYS = float(CameraConfig.model_fields["retention_days"].default)
HARD_FLOOR_MIN_BYTES = 64 * 1024 * 1024  # below this much free space nobody writes
HISTORY = 20  # runs kept in the report file
LISTED = 50  # deleted / missing paths listed in the report (the counts are complete)
BATCH = 200  # rows fetched at a time while freeing space


@dataclass
class CameraUsage:
    camera: str
    files: int = 0
    bytes: int = 0
    oldest: str | None = None  # ISO UTC start of the oldest footage kept
    newest: str | None = None  # ISO UTC end of the newest footage
    locked_files: int = 0
    locked_bytes: int = 0
    retention_days: float = DEFAULT_RETENTION_DAYS
    keep_at_least_hours: float = 0.0  # newest footage never deleted for free space
    configured: bool = True  # False: footage of a camera no longer in vigil.yaml
    deleted_files: int = 0  # in this run
    deleted_bytes: int = 0


@dataclass
class RetentionReport:
    ran_at: str  # ISO UTC
    duration_s: float = 0.0
    deleted_files: int = 0
    deleted_bytes: int = 0
    deleted_by_reason: dict[str, int] = field(
        default_factory=lambda: {"age": 0, "quota": 0, "min_free": 0}
    )
    deleted: list[str] = field(default_factory=list)  # first LISTED paths
    missing_files: int = 0  # rows removed because their file was gone
    missing: list[str] = field(default_factory=list)
    locks_expired: int = 0
    errors: list[str] = field(default_factory=list)
    used_bytes: int = 0  # all recordings, after the run
    quota_bytes: int | None = None
    free_bytes: int = 0  # on the recordings filesystem, after the run
    disk_total_bytes: int = 0
    min_free_bytes: int = 0
    alarm: str = ""  # "" when every limit is met (deleting met it, or nothing was needed)
    # who uses the recordings filesystem (`SpaceUse.as_dict`), after the run
    space: dict[str, Any] = field(default_factory=dict)
    # limits deleting could not meet, so nothing was deleted for them:
    # {"quota"|"min_free": {"needed_bytes": n, "deletable_bytes": d}}
    held_back: dict[str, dict[str, int]] = field(default_factory=dict)
    cameras: list[CameraUsage] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)  # earlier runs, newest first

    @property
    def ok(self) -> bool:
        return not self.alarm

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RetentionReport:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        cams = [
            CameraUsage(**{k: v for k, v in c.items() if k in CameraUsage.__dataclass_fields__})
            for c in known.pop("cameras", [])
        ]
        return cls(**known, cameras=cams)

    def summary(self) -> dict[str, Any]:
        return {
            "ran_at": self.ran_at,
            "deleted_files": self.deleted_files,
            "deleted_bytes": self.deleted_bytes,
            "missing_files": self.missing_files,
            "used_bytes": self.used_bytes,
            "free_bytes": self.free_bytes,
            "alarm": self.alarm,
            "held_back": self.held_back,
        }


# --- disk ---------------------------------------------------------------------------------


def _existing(path: Path) -> Path:
    path = Path(path).absolute()
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def disk_usage(data_dir: Path) -> tuple[int, int]:
    """(free, total) bytes of the filesystem the recordings live on."""
    usage = shutil.disk_usage(_existing(recordings_dir(data_dir)))
    return usage.free, usage.total


# top-level entries of data_dir and what they are, for the "who uses the disk" breakdown
_DATA_KINDS = {
    "snapshots": "snapshots",
    "exports": "exports",
    "cache": "caches",
    "tmp": "tmp",
    "nats": "sync buffer",
}


@dataclass
class SpaceUse:
    """Who uses the filesystem the recordings are on, in bytes."""

    total_bytes: int
    free_bytes: int  # available to Vigil (statvfs f_bavail)
    used_bytes: int  # by files (f_blocks - f_bfree)
    reserved_bytes: int  # kept for root by the filesystem, neither free nor used by files
    footage_bytes: int  # Vigil's recordings, as indexed
    vigil_other_bytes: int  # everything else under data_dir on this filesystem
    vigil_other: dict[str, int]  # ... by kind: database, snapshots, exports, caches, tmp, ...
    other_bytes: int  # files that are not Vigil's: used - footage - vigil_other

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SpaceUse | None:
        try:
            return cls(**{k: data[k] for k in cls.__dataclass_fields__})
        except (KeyError, TypeError):
            return None

    def describe(self) -> str:
        """One line: the biggest users first, each in MB/GB and exact bytes."""
        parts = [
            ("other files (not Vigil's)", self.other_bytes),
            ("Vigil's footage", self.footage_bytes),
            ("Vigil's other data", self.vigil_other_bytes),
        ]
        parts.sort(key=lambda p: -p[1])
        out = []
        for name, n in parts:
            text = f"{name} {_human(n)} ({n} bytes)"
            if name == "Vigil's other data" and n:
                kinds = sorted(self.vigil_other.items(), key=lambda kv: -kv[1])
                text += " [" + ", ".join(f"{k} {_human(v)}" for k, v in kinds if v) + "]"
            out.append(text)
        return (
            f"disk use: {', '.join(out)}; free {_human(self.free_bytes)} "
            f"({self.free_bytes} bytes) of {_human(self.total_bytes)}"
        )


def _human(n: int) -> str:
    for unit, scale in (("GB", GB), ("MB", 1_000_000), ("kB", 1000)):
        if abs(n) >= scale:
            return f"{n / scale:.2f} {unit}" if unit == "GB" else f"{n / scale:.1f} {unit}"
    return f"{n} B"


def space_usage(data_dir: Path, footage_bytes: int) -> SpaceUse:
    """Who uses the recordings filesystem: Vigil's footage (`footage_bytes`, from the index),
    Vigil's other files under data_dir on the same filesystem (database, snapshots, exports,
    caches, tmp: one walk), and the rest of the used bytes, which are not Vigil's."""
    data_dir = Path(data_dir)
    rec = recordings_dir(data_dir)
    fs = os.statvfs(_existing(rec))
    dev = os.stat(_existing(rec)).st_dev
    total = fs.f_blocks * fs.f_frsize
    used = (fs.f_blocks - fs.f_bfree) * fs.f_frsize
    kinds: dict[str, int] = {}
    try:
        entries = list(os.scandir(data_dir))
    except OSError:
        entries = []
    for entry in entries:
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if st.st_dev != dev or Path(entry.path) == rec:
            continue
        if entry.is_dir(follow_symlinks=False):
            n = bytes_under(Path(entry.path), dev, rec)
        else:
            n = st.st_blocks * 512
        if entry.name.startswith("vigil.db"):
            kind = "database"
        else:
            kind = _DATA_KINDS.get(entry.name, "other")
        kinds[kind] = kinds.get(kind, 0) + n
    vigil_other = sum(kinds.values())
    return SpaceUse(
        total_bytes=total,
        free_bytes=fs.f_bavail * fs.f_frsize,
        used_bytes=used,
        reserved_bytes=(fs.f_bfree - fs.f_bavail) * fs.f_frsize,
        footage_bytes=footage_bytes,
        vigil_other_bytes=vigil_other,
        vigil_other=kinds,
        other_bytes=max(0, used - footage_bytes - vigil_other),
    )


def hard_floor_bytes(recording: RecordingConfig) -> int:
    """Free space below which recording stops even if retention might still free some:
    half of `min_free_gb`, and never less than 64 MiB."""
    return max(HARD_FLOOR_MIN_BYTES, int(recording.min_free_gb * GB / 2))


@dataclass(frozen=True)
class DiskState:
    """Whether the recorder may write now, and why not."""

    ok: bool
    free_bytes: int
    reason: str = ""


def disk_state(
    data_dir: Path, recording: RecordingConfig, *, alarm: str | None = None
) -> DiskState:
    """May recordings be written? No when free space is under the hard floor, or when the last
    retention pass raised an alarm (limits exceeded and nothing left to delete).

    `alarm` is the in-memory alarm of a `FootageRetention`; without it the persisted report
    is read (an alarm older than three retention intervals is ignored as stale). Cheap: one
    statvfs and, at most, one small file read."""
    free, _total = disk_usage(data_dir)
    floor = hard_floor_bytes(recording)
    if alarm is None:
        report = read_report(data_dir)
        alarm = ""
        if report is not None and report.alarm:
            age = (datetime.now(UTC) - datetime.fromisoformat(report.ran_at)).total_seconds()
            if age < 3 * recording.retention_interval_s:
                alarm = report.alarm
    if free < floor:
        full = f"disk almost full: {_human(free)} free, below {_human(floor)}"
        return DiskState(False, free, f"{full}; {alarm}" if alarm else full)
    if alarm:
        return DiskState(False, free, alarm)
    return DiskState(True, free)


def storage_status(
    data_dir: Path, recording: RecordingConfig, *, alarm: str | None = None
) -> dict[str, Any]:
    """The storage alarm as the CLI, the API and MQTT show it: may recording write, and if
    not why, with who uses the recordings filesystem (from the last retention pass)."""
    disk = disk_state(data_dir, recording, alarm=alarm)
    report = read_report(data_dir)
    space = dict(report.space) if report is not None else {}
    return {
        "alarm": not disk.ok,
        "reason": disk.reason,
        "recording_paused": not disk.ok,
        "checked_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "retention_ran_at": report.ran_at if report is not None else None,
        "free_bytes": disk.free_bytes,
        "min_free_bytes": int(recording.min_free_gb * GB),
        "quota_bytes": int(recording.disk_quota_gb * GB) if recording.disk_quota_gb else None,
        "total_bytes": space.get("total_bytes"),
        "footage_bytes": space.get("footage_bytes"),
        "vigil_other_bytes": space.get("vigil_other_bytes"),
        "vigil_other": space.get("vigil_other", {}),
        "other_bytes": space.get("other_bytes"),
        "held_back": report.held_back if report is not None else {},
    }


# --- locks --------------------------------------------------------------------------------


def _valid_lock(now: datetime) -> ColumnElement[bool]:
    return and_(Segment.locked_until.is_not(None), Segment.locked_until > now)


def _deletable(now: datetime) -> ColumnElement[bool]:
    return and_(
        Segment.complete.is_(True),
        or_(Segment.locked_until.is_(None), Segment.locked_until <= now),
    )


def lock_segments(
    db: Database,
    camera: str,
    start: datetime,
    end: datetime,
    *,
    until: datetime,
    reason: str,
    owner: str,
    now: datetime | None = None,
) -> int:
    """Hold the camera's footage overlapping [start, end) as evidence until `until`.

    Locking again renews: a later `until` extends a valid lock, an earlier one never shortens
    it (use `unlock_segments`). Returns the number of segments locked. Footage recorded after
    this call is not covered, even inside the range."""
    if not reason.strip():
        raise ValueError("an evidence lock needs a reason")
    now = now or datetime.now(UTC)
    if until <= now:
        raise ValueError("the lock must end in the future")
    n = 0
    with db.session() as s:
        rows = s.scalars(
            select(Segment).where(
                Segment.camera == camera, Segment.start < end, Segment.end > start
            )
        ).all()
        for row in rows:
            if row.locked_until is None or row.locked_until <= now:
                row.locked_until, row.lock_reason, row.lock_owner = until, reason, owner
            else:  # renew: extend, never shorten; keep every reason and owner
                row.locked_until = max(row.locked_until, until)
                if reason not in row.lock_reason.split("; "):
                    row.lock_reason = f"{row.lock_reason}; {reason}" if row.lock_reason else reason
                if owner and owner not in row.lock_owner.split(", "):
                    row.lock_owner = f"{row.lock_owner}, {owner}" if row.lock_owner else owner
            n += 1
    return n


def unlock_segments(db: Database, camera: str, start: datetime, end: datetime) -> int:
    """Release the locks on the camera's footage overlapping [start, end); returns how many."""
    with db.session() as s:
        result = s.execute(
            update(Segment)
            .where(
                Segment.camera == camera,
                Segment.start < end,
                Segment.end > start,
                Segment.locked_until.is_not(None),
            )
            .values(locked_until=None, lock_reason="", lock_owner="")
        )
        return rowcount(result)


def expire_locks(db: Database, now: datetime | None = None) -> int:
    """Clear locks whose time is up (they were not renewed); returns how many."""
    now = now or datetime.now(UTC)
    with db.session() as s:
        result = s.execute(
            update(Segment)
            .where(Segment.locked_until.is_not(None), Segment.locked_until <= now)
            .values(locked_until=None, lock_reason="", lock_owner="")
        )
        return rowcount(result)


# --- the pass -----------------------------------------------------------------------------


class _Pass:
    """State of one retention pass: deletes files and rows, counts what it did."""

    def __init__(self, db: Database, data_dir: Path, report: RetentionReport) -> None:
        self.db = db
        self.root = recordings_dir(data_dir)
        self.report = report
        self.per_camera: dict[str, list[int]] = {}  # camera -> [files, bytes]
        self.touched_dirs: set[Path] = set()
        self.pending: list[int] = []  # ids of rows whose file was deleted

    def delete(self, rows: Iterable[tuple[int, str, str, int]], reason: str) -> int:
        """Delete these (id, camera, path, size) segments; return the bytes freed on disk."""
        freed = 0
        for row in rows:
            freed += self.delete_file(*row, reason=reason)
        self.flush()
        return freed

    def delete_file(self, seg_id: int, camera: str, rel: str, size: int, *, reason: str) -> int:
        """Delete one file (its row goes at the next `flush`); -1 when it could not be."""
        path = self.root / rel
        try:
            on_disk = path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            self._missing(rel)
            self.pending.append(seg_id)
            return 0
        except OSError as exc:
            self.report.errors.append(f"cannot delete {rel}: {exc.strerror or exc}")
            return -1
        self.pending.append(seg_id)
        size = on_disk or size
        r = self.report
        r.deleted_files += 1
        r.deleted_bytes += size
        r.deleted_by_reason[reason] = r.deleted_by_reason.get(reason, 0) + 1
        if len(r.deleted) < LISTED:
            r.deleted.append(rel)
        counts = self.per_camera.setdefault(camera, [0, 0])
        counts[0] += 1
        counts[1] += size
        self.touched_dirs.add(path.parent)
        return on_disk

    def flush(self) -> None:
        """Remove the rows of the files deleted so far."""
        if self.pending:
            ids, self.pending = self.pending, []
            with self.db.session() as s:
                s.execute(delete(Segment).where(Segment.id.in_(ids)))

    def _missing(self, rel: str) -> None:
        log.warning("segment %s is in the index but its file is gone; row removed", rel)
        self.report.missing_files += 1
        if len(self.report.missing) < LISTED:
            self.report.missing.append(rel)

    def drop_missing_rows(self, cameras: Iterable[str]) -> None:
        """Remove complete rows whose file is gone (one directory listing per date folder);
        each is kept as missing footage (`segment_problems`) until an operator acknowledges it."""
        for camera in cameras:
            with self.db.session() as s:
                rows = s.execute(
                    select(
                        Segment.id,
                        Segment.camera,
                        Segment.path,
                        Segment.start,
                        Segment.end,
                        Segment.size_bytes,
                    ).where(Segment.camera == camera, Segment.complete.is_(True))
                ).all()
            listed: dict[str, set[str]] = {}
            gone: list[Any] = []
            for row in rows:
                folder, _, name = row.path.rpartition("/")
                if folder not in listed:
                    try:
                        listed[folder] = set(os.listdir(self.root / folder))
                    except OSError:
                        listed[folder] = set()
                if name not in listed[folder]:
                    self._missing(row.path)
                    gone.append(row)
            if gone:
                with self.db.session() as s:
                    record_missing_rows(s, gone, "retention")
                    s.execute(delete(Segment).where(Segment.id.in_([r.id for r in gone])))

    def remove_empty_dirs(self, keep_after: datetime) -> None:
        """Remove emptied date folders of past days (today's may be about to get a file)."""
        for folder in self.touched_dirs:
            try:
                day = datetime.strptime(folder.name, "%Y-%m-%d").replace(tzinfo=UTC)
            except ValueError:
                continue
            if day < keep_after:
                with contextlib.suppress(OSError):
                    folder.rmdir()  # only succeeds when empty


def _deletable_batches(db: Database, now: datetime, *where: Any) -> Iterator[list[Any]]:
    """Deletable segments (id, camera, path, size, start), oldest first, a batch at a time.

    Keyset pagination: a row that could not be deleted is not fetched again."""
    after: tuple[datetime, int] | None = None
    while True:
        q = select(Segment.id, Segment.camera, Segment.path, Segment.size_bytes, Segment.start)
        q = q.where(_deletable(now), *where)
        if after is not None:
            q = q.where(
                or_(
                    Segment.start > after[0],
                    and_(Segment.start == after[0], Segment.id > after[1]),
                )
            )
        with db.session() as s:
            rows = list(s.execute(q.order_by(Segment.start, Segment.id).limit(BATCH)).all())
        if not rows:
            return
        yield rows
        after = (rows[-1].start, rows[-1].id)


def _used_bytes(db: Database) -> int:
    with db.session() as s:
        return int(s.scalar(select(func.coalesce(func.sum(Segment.size_bytes), 0))) or 0)


def _deletable_bytes(db: Database, now: datetime, *where: Any) -> int:
    """What deleting every deletable segment (matching `where`) would free, by the index."""
    with db.session() as s:
        q = select(func.coalesce(func.sum(Segment.size_bytes), 0)).where(_deletable(now), *where)
        return int(s.scalar(q) or 0)


def floor_hours(camera: CameraConfig, recording: RecordingConfig) -> float:
    """The camera's newest footage (hours) never deleted to make free space: its own
    `keep_at_least_hours` or the recording default, never more than its `retention_days`."""
    hours = camera.keep_at_least_hours
    if hours is None:
        hours = recording.keep_at_least_hours
    return min(float(hours), float(camera.retention_days) * 24)


def _past_floor(
    now: datetime, floors: dict[str, float], default_h: float, known: list[str]
) -> ColumnElement[bool]:
    """Segments old enough to be deleted for free space: ended before their camera's floor."""
    return or_(
        false(),
        *[
            and_(
                Segment.camera == cam,
                Segment.end <= now - timedelta(hours=floors.get(cam, default_h)),
            )
            for cam in known
        ],
    )


def _free_oldest(
    p: _Pass,
    db: Database,
    now: datetime,
    need: int,
    reason: str,
    *where: Any,
    shortfall: Callable[[], int] | None = None,
) -> int:
    """Delete the oldest deletable segments (matching `where`) until `need` bytes went (index
    sizes), or, given `shortfall` (free space: one statvfs), until it says none is missing.
    Returns what is still missing."""

    def settled() -> int:  # removing the rows takes a little space too (journal, WAL)
        p.flush()
        return need if shortfall is None else shortfall()

    for rows in _deletable_batches(db, now, *where):
        for seg_id, camera, rel, size, _start in rows:
            if need <= 0 and (need := settled()) <= 0:
                break
            if p.delete_file(seg_id, camera, rel, size, reason=reason) >= 0:
                need = need - size if shortfall is None else shortfall()
        if (need := settled()) <= 0:
            break
    return need


def run_retention(
    db: Database,
    data_dir: Path,
    cameras: Iterable[CameraConfig],
    recording: RecordingConfig,
    *,
    now: datetime | None = None,
    save: bool = True,
) -> RetentionReport:
    """One retention pass (see the module doc). Never raises for a single bad file: problems
    are listed in the report's `errors`. With `save`, the report is written to
    `<data_dir>/retention.json` (with the previous runs' summaries)."""
    t0 = time.monotonic()
    now = now or datetime.now(UTC)
    cameras = list(cameras)
    days = {c.name: float(c.retention_days) for c in cameras}
    floors = {c.name: floor_hours(c, recording) for c in cameras}
    default_floor = min(recording.keep_at_least_hours, DEFAULT_RETENTION_DAYS * 24)
    report = RetentionReport(ran_at=now.isoformat(timespec="seconds"))
    report.quota_bytes = int(recording.disk_quota_gb * GB) if recording.disk_quota_gb else None
    report.min_free_bytes = int(recording.min_free_gb * GB)
    p = _Pass(db, data_dir, report)

    report.locks_expired = expire_locks(db, now)
    with db.session() as s:
        known = sorted(set(s.scalars(select(Segment.camera).distinct())))
    p.drop_missing_rows(known)

    # 1. age, per camera
    for camera in known:
        cutoff = now - timedelta(days=days.get(camera, DEFAULT_RETENTION_DAYS))
        for rows in _deletable_batches(db, now, Segment.camera == camera, Segment.end <= cutoff):
            p.delete([(r.id, r.camera, r.path, r.size_bytes) for r in rows], "age")

    # 2. the quota (Vigil's own footage, counted on the index), oldest first across cameras,
    # the floor included: only when deleting every deletable segment can meet it
    if report.quota_bytes is not None:
        need_quota = _used_bytes(db) - report.quota_bytes
        if need_quota > 0:
            can = _deletable_bytes(db, now)
            if can >= need_quota:
                _free_oldest(p, db, now, need_quota, "quota")
            else:
                report.held_back["quota"] = {"needed_bytes": need_quota, "deletable_bytes": can}

    # 3. free space on the filesystem, which other files share: only footage past its
    # camera's floor, and only when deleting all of it can bring free space back
    free, _total = disk_usage(data_dir)
    need_free = report.min_free_bytes - free
    if need_free > 0:
        past = _past_floor(now, floors, default_floor, known)
        can = _deletable_bytes(db, now, past)
        if can >= need_free:
            _free_oldest(
                p,
                db,
                now,
                need_free,
                "min_free",
                past,
                shortfall=lambda: report.min_free_bytes - disk_usage(data_dir)[0],
            )
        else:
            report.held_back["min_free"] = {"needed_bytes": need_free, "deletable_bytes": can}

    # 2b. pixelated copies for protected viewers: of deleted segments, and past their age
    try:
        from vigil.camera.renditions import sweep_protected

        sweep_protected(
            db, data_dir, days, now=now.timestamp(), default_days=DEFAULT_RETENTION_DAYS
        )
    except Exception as exc:  # never stops the footage pass
        report.errors.append(f"protected renditions: {exc}")
    try:  # time line thumbnails of deleted segments
        from vigil.camera.thumbnails import sweep_thumbnails

        sweep_thumbnails(db, data_dir)
    except Exception as exc:  # never stops the footage pass
        report.errors.append(f"time line thumbnails: {exc}")

    # 4. what is left, who uses the disk, and the alarm
    report.used_bytes = _used_bytes(db)
    report.free_bytes, report.disk_total_bytes = disk_usage(data_dir)
    space: SpaceUse | None = None
    try:
        space = space_usage(data_dir, report.used_bytes)
        report.space = space.as_dict()
    except OSError as exc:
        report.errors.append(f"disk use breakdown: {exc}")
    problems = []
    if report.quota_bytes is not None and report.used_bytes > report.quota_bytes:
        why = _why(report.held_back.get("quota"), "unlocked complete footage")
        problems.append(
            f"Vigil's footage uses {_human(report.used_bytes)}, over the "
            f"{_human(report.quota_bytes)} quota{why}"
        )
    if report.free_bytes < report.min_free_bytes:
        why = _why(report.held_back.get("min_free"), "footage past keep_at_least_hours")
        problems.append(
            f"only {_human(report.free_bytes)} free on the recordings filesystem, under "
            f"min_free_gb {_human(report.min_free_bytes)}{why}"
        )
    if problems:
        report.alarm = "; ".join(problems) + " (locked evidence and open segments stay)"
        if space is not None:
            report.alarm += "; " + space.describe()
        report.alarm += ". Recording pauses until space is freed."
        log.error("retention alarm: %s", report.alarm)
    p.remove_empty_dirs(now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(1))
    report.cameras = camera_usage(db, days, now, p.per_camera)
    for usage in report.cameras:
        usage.keep_at_least_hours = floors.get(usage.camera, default_floor)
    report.duration_s = round(time.monotonic() - t0, 3)
    if report.deleted_files or report.missing_files:
        log.info(
            "retention: deleted %d file(s), %.1f MB; %d missing file(s) dropped from the index",
            report.deleted_files,
            report.deleted_bytes / 1e6,
            report.missing_files,
        )
    if save:
        save_report(data_dir, report)
    return report


def camera_usage(
    db: Database,
    days: dict[str, float],
    now: datetime,
    deleted: dict[str, list[int]] | None = None,
) -> list[CameraUsage]:
    """Footage kept per camera (files, bytes, oldest, newest, locked), configured or not."""
    deleted = deleted or {}
    with db.session() as s:
        rows = s.execute(
            select(
                Segment.camera,
                func.count(),
                func.coalesce(func.sum(Segment.size_bytes), 0),
                func.min(Segment.start),
                func.max(Segment.end),
            ).group_by(Segment.camera)
        ).all()
        locked = {
            cam: (n, int(b or 0))
            for cam, n, b in s.execute(
                select(Segment.camera, func.count(), func.sum(Segment.size_bytes))
                .where(_valid_lock(now))
                .group_by(Segment.camera)
            ).all()
        }
    out: dict[str, CameraUsage] = {}
    for cam, n, size, first, last in rows:
        lf, lb = locked.get(cam, (0, 0))
        out[cam] = CameraUsage(
            camera=cam,
            files=int(n),
            bytes=int(size),
            oldest=_iso(first),
            newest=_iso(last),
            locked_files=lf,
            locked_bytes=lb,
            retention_days=days.get(cam, DEFAULT_RETENTION_DAYS),
            configured=cam in days,
        )
    for cam in set(days) | set(deleted):
        usage = out.setdefault(
            cam,
            CameraUsage(
                camera=cam,
                retention_days=days.get(cam, DEFAULT_RETENTION_DAYS),
                configured=cam in days,
            ),
        )
        usage.deleted_files, usage.deleted_bytes = deleted.get(cam, [0, 0])
    return sorted(out.values(), key=lambda u: u.camera)


def _why(held: dict[str, int] | None, what: str) -> str:
    if held is None:
        return ": nothing left to delete"
    if held["deletable_bytes"] == 0:
        return f": nothing left to delete (no {what})"
    return (
        f": deleting all {what} ({_human(held['deletable_bytes'])}) cannot free the "
        f"{_human(held['needed_bytes'])} needed, so none was deleted"
    )


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.astimezone(UTC).isoformat(timespec="seconds")


# --- the report file ----------------------------------------------------------------------


def report_path(data_dir: Path) -> Path:
    return Path(data_dir) / REPORT_FILE


def read_report(data_dir: Path) -> RetentionReport | None:
    """The last saved pass, or None when retention never ran here."""
    try:
        data = json.loads(report_path(data_dir).read_text(encoding="utf-8"))
        return RetentionReport.from_dict(data)
    except (OSError, ValueError, TypeError):
        return None


def save_report(data_dir: Path, report: RetentionReport) -> None:
    """Write the report atomically, carrying the summaries of the previous runs."""
    previous = read_report(data_dir)
    if previous is not None:
        report.history = [previous.summary(), *previous.history][: HISTORY - 1]
    path = report_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(report.as_dict(), indent=1).encode(), mode=0o644)


# --- the retention a node runs --------------------------------------------------------------


class FootageRetention:
    """Retention as a node runs it: passes on a schedule (`add_to` a `vigil.maintenance`
    scheduler: on start, every `retention_interval_s`, and at once whenever free space drops
    under `min_free_gb`, checked every `check_s`, one statvfs), and the alarm they leave.

    `disk_state()` is what a recorder asks before opening a segment (and now and then while
    writing): not ok means stop writing, close the segment cleanly and report the reason."""

    JOB = "footage retention"

    def __init__(
        self,
        db: Database,
        data_dir: Path,
        cameras: list[CameraConfig],
        recording: RecordingConfig,
        *,
        on_report: Callable[[RetentionReport], None] | None = None,
    ) -> None:
        self.db = db
        self.data_dir = Path(data_dir)
        self.cameras = cameras
        self.recording = recording
        self.on_report = on_report
        self.last_report: RetentionReport | None = None
        self._alarm = ""
        self._last_run = 0.0
        self._run_lock = threading.Lock()

    def add_to(self, scheduler: Scheduler, *, check_s: float | None = None) -> Job:
        """Schedule the passes: one on start, then every `retention_interval_s`, and early
        when `space_short()` (asked every `check_s`, default `space_check_s`)."""
        return scheduler.add(
            self.JOB,
            self.run_now,
            every_s=self.recording.retention_interval_s,
            early=self.space_short,
            check_s=self.recording.space_check_s if check_s is None else check_s,
        )

    def run_now(self) -> RetentionReport:
        with self._run_lock:
            try:
                report = run_retention(self.db, self.data_dir, self.cameras, self.recording)
            finally:  # a failed pass counts as a run: the alarm's one-minute wait holds
                self._last_run = time.monotonic()
            self._alarm = report.alarm
            self.last_report = report
        if self.on_report is not None:
            try:
                self.on_report(report)
            except Exception:
                log.exception("retention report listener failed")
        return report

    def disk_state(self) -> DiskState:
        return disk_state(self.data_dir, self.recording, alarm=self._alarm)

    def disk_ok(self) -> bool:
        return self.disk_state().ok

    def space_short(self) -> bool:
        """A pass is due before its interval: free space is under `min_free_gb`; or, while
        the alarm is up (deleting could not help), a minute has passed since the last pass,
        or the free space is back (the alarm clears, recording resumes)."""
        try:
            free, _ = disk_usage(self.data_dir)
        except OSError:
            return False
        if self._alarm:
            last = self.last_report
            back = (
                last is not None
                and last.free_bytes < last.min_free_bytes
                and free >= self.recording.min_free_gb * GB
            )
            return back or time.monotonic() - self._last_run >= 60.0
        return free < self.recording.min_free_gb * GB
