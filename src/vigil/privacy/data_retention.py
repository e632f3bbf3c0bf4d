"""Retention of personal data beyond footage: snapshots, events, unknown-face templates.

Footage (segments) has its own pass in `camera/footage_retention.py`. This pass, run on start and
hourly by the edge node (`run_scheduled`), deletes for real, files and rows:

- event snapshots older than `privacy.snapshot_retention_days`: the JPEG is deleted and the
  event's `snapshot` column cleared; snapshot files no event refers to are deleted once they
  are that old too;
- events older than their camera's `retention_days` (the footage retention): the row (its
  outbox rows cascade) and any snapshot left; review items left empty are deleted, the
  others recomputed (`store.review_items`). Events that overlap footage under a valid
  evidence hold are kept, like the footage itself;
- unknown-face templates older than `privacy.unknown_face_retention_days` (all of them when
  it is unset: none are kept then);
- zone occupancy rows (counts per minute, no personal data) older than their camera's
  `retention_days`, like its events, so the table does not grow forever;
- recognition periods (`privacy.recognition_log`) only once they ended more than
  `privacy.audit_retention_days` ago *and* audit retention removed their `recognition_stop`
  record: the periods are kept as long as the audit log. Match records are audit records:
  events and snapshots expiring here never take them along.

Enrolled templates are never deleted silently: those past their review date are *reported*
(here, in `<data_dir>/privacy-retention.json` and `vigil privacy status`) for a person to
review. Audit records older than `privacy.audit_retention_days` are deleted only up to the
newest signed checkpoint among them, leaving a signed anchor that `verify` starts from
(`AuditLog.truncate`, itself recorded as `audit_truncate`); those after that checkpoint, and
all of them while the chain does not verify, stay and are reported.

The pass is itself audited (`Action.retention_run`, counts only, never contents). Retention
periods live in vigil.yaml, edited outside Vigil: each pass compares them with those it saw
last (`<data_dir>/retention-settings.json`) and records a change as `change_retention`
(before and after), so a shortened or lengthened period is in the audit log. The pass also
signs an audit checkpoint when the newest is over a day old.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select, update

from vigil.config import CameraConfig, VigilConfig
from vigil.faces.sightings import purge_unknown
from vigil.store.db import Database, rowcount
from vigil.store.models import (
    AuditRecord,
    Delivery,
    Event,
    Person,
    RecognitionPeriod,
    Segment,
    Template,
    ZoneOccupancy,
)
from vigil.store.review_items import detach_events, refresh_events

log = logging.getLogger(__name__)

REPORT_NAME = "privacy-retention.json"
SETTINGS_NAME = "retention-settings.json"
# A quiet site may take months to reach `audit_checkpoint_every` records; audit retention can
# only cut at a checkpoint, so the pass signs the head at least this often.
CHECKPOINT_AT_LEAST_EVERY = timedelta(days=1)
SNAPSHOTS = "snapshots"
DEFAULT_FOOTAGE_DAYS = CameraConfig.model_fields["retention_days"].default
_BATCH = 500


@dataclass
class TemplateDue:
    person_id: int
    person: str
    template_id: int
    review_at: str


@dataclass
class PrivacyRetentionReport:
    ran_at: str = ""
    snapshots_cleared: int = 0  # events whose snapshot was deleted (the event stays)
    snapshot_files_deleted: int = 0  # every snapshot file deleted, orphans included
    events_deleted: int = 0
    events_kept_locked: int = 0
    unknown_faces_deleted: int = 0
    occupancy_rows_deleted: int = 0
    recognition_periods_deleted: int = 0
    templates_due_review: list[TemplateDue] = field(default_factory=list)
    audit_records_removed: int = 0
    audit_anchor_seq: int | None = None
    audit_records_past_retention: int = 0  # still stored after this pass
    audit_note: str = ""
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def counts(self) -> dict[str, int]:
        """What the audit record holds: counts, never contents."""
        return {
            "snapshots_cleared": self.snapshots_cleared,
            "snapshot_files_deleted": self.snapshot_files_deleted,
            "events_deleted": self.events_deleted,
            "events_kept_locked": self.events_kept_locked,
            "unknown_faces_deleted": self.unknown_faces_deleted,
            "occupancy_rows_deleted": self.occupancy_rows_deleted,
            "recognition_periods_deleted": self.recognition_periods_deleted,
            "templates_due_review": len(self.templates_due_review),
            "audit_records_removed": self.audit_records_removed,
            "audit_records_past_retention": self.audit_records_past_retention,
            "errors": len(self.errors),
        }


def _unlink(path: Path, report: PrivacyRetentionReport) -> bool:
    try:
        path.unlink()
        return True
    except FileNotFoundError:
        return False
    except OSError as exc:
        report.errors.append(f"cannot delete {path}: {exc.strerror or exc}")
        return False


def _locked_spans(db: Database, now: datetime) -> dict[str, list[tuple[datetime, datetime]]]:
    with db.session() as s:
        rows = s.execute(
            select(Segment.camera, Segment.start, Segment.end).where(Segment.locked_until > now)
        ).all()
    spans: dict[str, list[tuple[datetime, datetime]]] = {}
    for cam, a, b in rows:
        spans.setdefault(cam, []).append((a, b))
    return spans


def _overlaps(spans: list[tuple[datetime, datetime]], a: datetime, b: datetime) -> bool:
    return any(s0 < b and s1 > a for s0, s1 in spans)


def _delete_old_events(
    db: Database, data_dir: Path, config: VigilConfig, now: datetime, r: PrivacyRetentionReport
) -> None:
    days = {c.name: c.retention_days for c in config.cameras}
    locked = _locked_spans(db, now)
    with db.session() as s:
        cameras = [c for (c,) in s.execute(select(Event.camera).distinct())]
    for cam in cameras:
        cutoff = now - timedelta(days=days.get(cam, DEFAULT_FOOTAGE_DAYS))
        last_id = 0
        while True:
            with db.session() as s:
                rows = s.execute(
                    select(Event.id, Event.uid, Event.start, Event.end, Event.snapshot)
                    .where(Event.camera == cam, Event.start < cutoff, Event.id > last_id)
                    .order_by(Event.id)
                    .limit(_BATCH)
                ).all()
            if not rows:
                break
            last_id = rows[-1].id
            doomed = []
            for row in rows:
                end = row.end or row.start
                if _overlaps(locked.get(cam, []), row.start, max(end, row.start)):
                    r.events_kept_locked += 1
                    continue
                doomed.append(row)
            for row in doomed:
                if row.snapshot and _unlink(data_dir / row.snapshot, r):
                    r.snapshot_files_deleted += 1
            if doomed:
                with db.session() as s:
                    uids = [row.uid for row in doomed]
                    ids = [row.id for row in doomed]
                    detach_events(s, ids)  # review items left empty go too
                    s.execute(delete(Delivery).where(Delivery.event_uid.in_(uids)))
                    res = s.execute(delete(Event).where(Event.id.in_(ids)))
                    r.events_deleted += rowcount(res)


def _delete_old_occupancy(
    db: Database, config: VigilConfig, now: datetime, r: PrivacyRetentionReport
) -> None:
    """Zone occupancy rows past their camera's footage retention (as its events)."""
    days = {c.name: c.retention_days for c in config.cameras}
    with db.session() as s:
        cameras = [c for (c,) in s.execute(select(ZoneOccupancy.camera).distinct())]
    for cam in cameras:
        cutoff = now - timedelta(days=days.get(cam, DEFAULT_FOOTAGE_DAYS))
        with db.session() as s:
            res = s.execute(
                delete(ZoneOccupancy).where(
                    ZoneOccupancy.camera == cam, ZoneOccupancy.start < cutoff
                )
            )
            r.occupancy_rows_deleted += rowcount(res)


def _clear_old_snapshots(
    db: Database, data_dir: Path, cutoff: datetime, r: PrivacyRetentionReport
) -> None:
    while True:
        with db.session() as s:
            rows = s.execute(
                select(Event.id, Event.snapshot)
                .where(Event.snapshot.is_not(None), func.coalesce(Event.end, Event.start) < cutoff)
                .order_by(Event.id)
                .limit(_BATCH)
            ).all()
        if not rows:
            return
        for row in rows:
            if _unlink(data_dir / row.snapshot, r):
                r.snapshot_files_deleted += 1
        with db.session() as s:
            ids = [row.id for row in rows]
            s.execute(update(Event).where(Event.id.in_(ids)).values(snapshot=None))
            refresh_events(s, ids)  # review items pick another best snapshot, or none
        r.snapshots_cleared += len(rows)


def _sweep_orphan_snapshots(
    db: Database, data_dir: Path, cutoff: datetime, r: PrivacyRetentionReport
) -> None:
    """Snapshot files (and leftover .tmp files) older than the limit that no event refers to."""
    root = data_dir / SNAPSHOTS
    if not root.is_dir():
        return
    limit = cutoff.timestamp()
    old: list[tuple[Path, str]] = []
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = Path(dirpath) / name
            try:
                if path.stat().st_mtime < limit:
                    old.append((path, path.relative_to(data_dir).as_posix()))
            except OSError:
                continue
    if old:
        with db.session() as s:
            referenced = {
                p
                for (p,) in s.execute(
                    select(Event.snapshot).where(Event.snapshot.in_([rel for _, rel in old]))
                )
            }
        for path, rel in old:
            if rel not in referenced and _unlink(path, r):
                r.snapshot_files_deleted += 1
    for dirpath, _dirs, _files in sorted(os.walk(root), key=lambda t: -len(t[0])):
        p = Path(dirpath)
        if p != root:
            with contextlib.suppress(OSError):
                p.rmdir()  # only empty folders go


def _delete_old_periods(
    db: Database, config: VigilConfig, now: datetime, r: PrivacyRetentionReport
) -> None:
    """Recognition periods past the audit retention whose stop record the audit lost too."""
    cutoff = now - timedelta(days=config.privacy.audit_retention_days)
    with db.session() as s:
        first = s.scalar(select(func.min(AuditRecord.seq)))
        q = delete(RecognitionPeriod).where(
            RecognitionPeriod.ended_at.is_not(None), RecognitionPeriod.ended_at < cutoff
        )
        if first is not None:  # a stop record still in the chain keeps its period
            q = q.where(func.coalesce(RecognitionPeriod.stop_seq, 0) < first)
        r.recognition_periods_deleted += rowcount(s.execute(q))


def templates_due_review(db: Database, now: datetime | None = None) -> list[TemplateDue]:
    """Enrolled templates past their review date (reported, never deleted automatically)."""
    now = now or datetime.now(UTC)
    with db.session() as s:
        rows = s.execute(
            select(Person.id, Person.name, Template.id, Template.review_at)
            .join(Template, Template.person_id == Person.id)
            .where(Template.review_at.is_not(None), Template.review_at <= now)
            .order_by(Template.review_at)
        ).all()
    # `at is not None` only narrows the type: the query already excludes templates without one.
    return [
        TemplateDue(pid, name, tid, at.isoformat()) for pid, name, tid, at in rows if at is not None
    ]


def audit_past_retention(db: Database, config: VigilConfig, now: datetime) -> int:
    cutoff = now - timedelta(days=config.privacy.audit_retention_days)
    with db.session() as s:
        return int(
            s.scalar(select(func.count(AuditRecord.seq)).where(AuditRecord.time < cutoff)) or 0
        )


def _truncate_audit(
    db: Database,
    config: VigilConfig,
    now: datetime,
    r: PrivacyRetentionReport,
    *,
    actor: str,
    source: str,
) -> None:
    from vigil.privacy.audit import AuditLog

    days = config.privacy.audit_retention_days
    if audit_past_retention(db, config, now):
        cut = AuditLog.from_config(config).truncate(
            db, before=now - timedelta(days=days), actor=actor, source=source
        )
        r.audit_records_removed = cut.records_removed
        r.audit_anchor_seq = cut.anchor_seq
        if cut.note:
            r.audit_note = cut.note
    r.audit_records_past_retention = audit_past_retention(db, config, now)
    if r.audit_records_past_retention:
        r.audit_note = (
            f"{r.audit_records_past_retention} audit record(s) older than {days:g} days are "
            "kept: they are deleted only up to a signed checkpoint"
            + (f" ({r.audit_note})" if r.audit_note else "; the next checkpoint allows it")
        )


def retention_settings(config: VigilConfig) -> dict[str, Any]:
    """Every retention period in force (what `change_retention` compares)."""
    p = config.privacy
    return {
        "snapshot_retention_days": p.snapshot_retention_days,
        "unknown_face_retention_days": p.unknown_face_retention_days,
        "audit_retention_days": p.audit_retention_days,
        "footage_retention_days": {c.name: c.retention_days for c in config.cameras},
    }


def note_retention_change(
    db: Database, config: VigilConfig, *, actor: str = "system", source: str = "retention"
) -> dict[str, Any] | None:
    """Audit the retention periods that differ from the last ones seen; returns the change."""
    path = config.storage.data_dir / SETTINGS_NAME
    current = json.loads(json.dumps(retention_settings(config)))
    try:
        seen = json.loads(path.read_text())
    except (OSError, ValueError):
        seen = None  # first run: the baseline, nothing changed
    change = None
    if seen is not None and seen != current:
        keys = sorted(set(seen) | set(current))
        change = {
            k: {"before": seen.get(k), "after": current.get(k)}
            for k in keys
            if seen.get(k) != current.get(k)
        }
        from vigil.privacy.audit import Action, AuditLog

        AuditLog.from_config(config).record(
            db,
            actor=actor,
            action=Action.change_retention,
            source=f"{source} (vigil.yaml)",
            target=("config", "retention"),
            details=change,
        )
    if seen != current:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(current, indent=2))
        tmp.replace(path)
    return change


def run_privacy_retention(
    db: Database,
    config: VigilConfig,
    *,
    now: datetime | None = None,
    audit: bool = True,
    actor: str = "system",
    source: str = "retention",
) -> PrivacyRetentionReport:
    """One pass: delete what is past its limit, report what needs a person; audited."""
    now = now or datetime.now(UTC)
    data_dir = config.storage.data_dir
    p = config.privacy
    r = PrivacyRetentionReport(ran_at=now.isoformat())
    if audit:
        try:
            note_retention_change(db, config, actor=actor, source=source)
        except Exception as exc:
            log.exception("privacy retention: recording a retention change failed")
            r.errors.append(f"retention change: {exc}")
    snap_cutoff = now - timedelta(days=p.snapshot_retention_days)
    steps = (
        ("events", lambda: _delete_old_events(db, data_dir, config, now, r)),
        ("zone occupancy", lambda: _delete_old_occupancy(db, config, now, r)),
        ("snapshots", lambda: _clear_old_snapshots(db, data_dir, snap_cutoff, r)),
        ("orphan snapshots", lambda: _sweep_orphan_snapshots(db, data_dir, snap_cutoff, r)),
    )
    for name, step in steps:
        try:
            step()
        except Exception as exc:  # one failing step never stops the others
            log.exception("privacy retention: %s failed", name)
            r.errors.append(f"{name}: {exc}")
    try:
        r.unknown_faces_deleted = purge_unknown(
            db, now - timedelta(days=p.unknown_face_days)  # 0: none kept, all deleted
        )
    except Exception as exc:
        log.exception("privacy retention: unknown faces failed")
        r.errors.append(f"unknown faces: {exc}")
    r.templates_due_review = templates_due_review(db, now)
    try:
        _truncate_audit(db, config, now, r, actor=actor, source=source)
        _delete_old_periods(db, config, now, r)  # after the audit: never outlived by it
    except Exception as exc:
        log.exception("privacy retention: audit truncation failed")
        r.errors.append(f"audit truncation: {exc}")
    if audit:
        from vigil.privacy.audit import Action, AuditLog

        log_ = AuditLog.from_config(config)
        log_.record(db, actor=actor, action=Action.retention_run, source=source, details=r.counts())
        try:
            log_.checkpoint_if_older(db, CHECKPOINT_AT_LEAST_EVERY)
        except Exception as exc:
            log.exception("privacy retention: daily audit checkpoint failed")
            r.errors.append(f"audit checkpoint: {exc}")
    save_report(data_dir, r)
    return r


def run_scheduled(db: Database, config: VigilConfig) -> PrivacyRetentionReport:
    """The node's pass (a job of its `vigil.maintenance` scheduler, on start and hourly):
    what it deleted logged when anything went; a failure raises, for the scheduler to log
    and retry at the next turn."""
    r = run_privacy_retention(db, config)
    if any(r.counts().values()):
        log.info("privacy retention: %s", r.counts())
    return r


def save_report(data_dir: Path, report: PrivacyRetentionReport) -> None:
    path = data_dir / REPORT_NAME
    tmp = path.with_suffix(".tmp")
    try:
        tmp.write_text(json.dumps(report.as_dict(), indent=2))
        tmp.replace(path)
    except OSError as exc:
        log.warning("cannot save %s: %s", path, exc)


def read_report(data_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((data_dir / REPORT_NAME).read_text())
    except (OSError, ValueError):
        return None
