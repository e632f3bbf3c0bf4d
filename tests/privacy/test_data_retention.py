"""Privacy retention: after a pass, nothing older than its limit is left on disk or in the DB."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import func, select

from vigil.config import VigilConfig
from vigil.events.store import create_event
from vigil.faces.sightings import add_unknown
from vigil.privacy.audit import Action
from vigil.privacy.data_retention import read_report, run_privacy_retention
from vigil.store.models import AuditRecord, Event, Person, Segment, Template, UnknownFace
from vigil.store.models.faces import LegalBasis

JPEG = b"\xff\xd8\xff\xe0fake-jpeg\xff\xd9"


def _config(data_dir: Path) -> VigilConfig:
    return VigilConfig.model_validate(
        {
            "storage": {"data_dir": str(data_dir)},
            "cameras": [{"name": "gate", "url": "x.mp4", "retention_days": 10}],
            "privacy": {
                "snapshot_retention_days": 3,
                "unknown_face_retention_days": 2,
                "unknown_faces_purpose": "where else was this face, for incidents",
            },
        }
    )


def _event(db, data_dir: Path, age_days: float, now: datetime, camera: str = "gate") -> Event:
    start = now - timedelta(days=age_days)
    ev = create_event(
        db,
        camera=camera,
        kind="face",
        start=start,
        end=start + timedelta(seconds=5),
        snapshot_jpeg=JPEG,
        data_dir=data_dir,
    )
    t = start.timestamp()
    os.utime(data_dir / ev.snapshot, (t, t))  # the file is as old as its event
    return ev


def test_retention_deletes_files_and_rows(db, data_dir: Path, cli) -> None:
    cfg = _config(data_dir)
    now = datetime.now(UTC)
    fresh = _event(db, data_dir, 1, now)
    old_snap = _event(db, data_dir, 5, now)  # snapshot past 3 days, event within 10
    ancient = _event(db, data_dir, 20, now)  # past the camera's footage retention
    locked = _event(db, data_dir, 25, now)  # past it too, but its footage is on hold
    other_cam = _event(db, data_dir, 40, now, camera="attic")  # unconfigured: default 30 days
    with db.session() as s:
        s.add(
            Segment(
                camera="gate",
                start=locked.start - timedelta(seconds=30),
                end=locked.start + timedelta(seconds=30),
                path="gate/x.mp4",
                size_bytes=1,
                locked_until=now + timedelta(days=5),
                lock_reason="incident",
                lock_owner="alice",
            )
        )
    orphan = data_dir / "snapshots" / "gate" / "2000-01-01" / "orphan.jpg"
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(JPEG)
    os.utime(orphan, (1e9, 1e9))
    vec = np.ones(128, np.float32) / np.sqrt(128)
    for age in (0.5, 3, 9):
        add_unknown(
            db,
            event_uid=f"u{age}",
            camera="gate",
            seen_at=now - timedelta(days=age),
            embedding=vec,
            model="m",
        )
    with db.session() as s:
        p = Person(name="Ann", created_by="t")
        for i, review in enumerate((now - timedelta(days=1), now + timedelta(days=100), None)):
            p.templates.append(
                Template(
                    embedding=vec.tobytes(),
                    model="m",
                    image_sha256=f"{i}",
                    quality=1.0,
                    legal_basis=LegalBasis.consent,
                    enrolled_by="t",
                    review_at=review,
                )
            )
        s.add(p)

    r = run_privacy_retention(db, cfg, now=now)

    assert r.events_deleted == 2 and r.events_kept_locked == 1
    assert r.unknown_faces_deleted == 2
    assert [t.person for t in r.templates_due_review] == ["Ann"]
    snap_cutoff = now - timedelta(days=3)
    with db.session() as s:
        uids = set(s.scalars(select(Event.uid)))
        assert uids == {fresh.uid, old_snap.uid, locked.uid}
        assert other_cam.uid not in uids and ancient.uid not in uids
        for ev in s.scalars(select(Event)):
            if ev.snapshot is not None:  # no snapshot reference older than the limit
                assert (ev.end or ev.start) >= snap_cutoff
        assert s.scalar(select(Event.snapshot).where(Event.uid == fresh.uid)) is not None
        seen = list(s.scalars(select(UnknownFace.seen_at)))
        assert seen and all(t >= now - timedelta(days=2) for t in seen)
        assert s.scalar(select(func.count(Template.id))) == 3  # never deleted silently
        last = s.scalars(select(AuditRecord).order_by(AuditRecord.seq.desc())).first()
        assert last.action == Action.retention_run.value
        assert last.details["events_deleted"] == 2 and "uid" not in str(last.details)
    # the disk: every snapshot file left is younger than the limit
    files = [p for p in (data_dir / "snapshots").rglob("*") if p.is_file()]
    assert files == [data_dir / fresh.snapshot]
    assert all(f.stat().st_mtime >= snap_cutoff.timestamp() for f in files)
    assert not orphan.parent.exists()
    assert read_report(data_dir)["events_deleted"] == 2

    # a second pass finds nothing more to do
    again = run_privacy_retention(db, cfg, now=now)
    assert again.counts()["events_deleted"] == 0 and again.snapshot_files_deleted == 0
