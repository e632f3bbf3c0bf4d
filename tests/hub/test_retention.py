"""Hub retention: events, thumbnails, audit copies and tombstones past their period go; the
rest stays (SQLite hub database; the same statements run on PostgreSQL in test_db)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from vigil.cli import run
from vigil.hub.config import HubConfig
from vigil.hub.ingest import store_batch
from vigil.hub.retention import HubRetention, run_hub_retention, schedule_hub_retention
from vigil.maintenance import Scheduler
from vigil.store.db import Database
from vigil.store.models import HubAuditRecord, HubEvent, HubEventTombstone

NOW = datetime.now(UTC)


def _event(uid: str, age_days: float) -> tuple[str, bytes, dict[str, str]]:
    body = {
        "site": "s1",
        "uid": uid,
        "edge_id": 1,
        "camera": "gate",
        "kind": "person",
        "start": (NOW - timedelta(days=age_days)).isoformat(),
        "version": 1,
    }
    return "vigil.s1.events.gate", json.dumps(body).encode(), {}


def _thumb(uid: str) -> tuple[str, bytes, dict[str, str]]:
    return "vigil.s1.thumbs.gate", b"\xff\xd8jpeg", {"Vigil-Event": uid, "Vigil-Version": "1"}


def _audit(seq: int, age_days: float) -> tuple[str, bytes, dict[str, str]]:
    body = {"seq": seq, "time": (NOW - timedelta(days=age_days)).isoformat(), "hash": "h" * 64}
    return "vigil.s1.audit", json.dumps(body).encode(), {}


def _fill(db: Database, thumbs: Path) -> None:
    store_batch(
        db,
        "s1",
        [_event("old", 40), _event("recent", 3), _event("gone", 1), _audit(1, 400), _audit(2, 10)],
    )
    store_batch(db, "s1", [_thumb("old"), _thumb("recent")], thumbs)
    tomb = {"site": "s1", "uid": "gone", "camera": "gate", "deleted": True, "version": 2}
    store_batch(db, "s1", [("vigil.s1.events.gate", json.dumps(tomb).encode(), {})], thumbs)
    with db.session() as s:  # a tombstone from long ago
        s.get(HubEventTombstone, ("s1", "gone")).deleted_at = NOW - timedelta(days=31)  # type: ignore[union-attr]


def _uids(db: Database) -> list[str]:
    with db.session() as s:
        return sorted(s.scalars(select(HubEvent.uid)))


def test_hub_retention_deletes_only_what_is_past(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'hub.db'}")
    thumbs = tmp_path / "thumbs"
    _fill(db, thumbs)
    assert _uids(db) == ["old", "recent"]
    assert (thumbs / "s1/gate/old.jpg").is_file()

    done = run_hub_retention(db, HubRetention(event_days=30, audit_days=365), thumbs)
    assert (done.events, done.thumbnails, done.audit, done.tombstones) == (1, 1, 1, 1)
    assert _uids(db) == ["recent"]
    assert not (thumbs / "s1/gate/old.jpg").exists()
    assert (thumbs / "s1/gate/recent.jpg").is_file()
    with db.session() as s:
        assert list(s.scalars(select(HubAuditRecord.seq))) == [2]
        assert s.scalar(select(func.count()).select_from(HubEventTombstone)) == 0
    again = run_hub_retention(db, HubRetention(event_days=30, audit_days=365), thumbs)
    assert (again.events, again.audit) == (0, 0)


def test_policy_follows_the_config() -> None:
    assert HubRetention.from_config(HubConfig()) == HubRetention(event_days=30, audit_days=365)
    cfg = HubConfig.model_validate({"retention": {"event_days": 7, "audit_days": 90}})
    assert HubRetention.from_config(cfg) == HubRetention(event_days=7, audit_days=90)


def test_scheduled_pass_runs_at_once_and_stops_promptly(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'hub.db'}")
    _fill(db, tmp_path / "thumbs")
    sched = Scheduler("hub")
    schedule_hub_retention(sched, db, HubRetention(), tmp_path / "thumbs")
    sched.start()
    try:
        deadline = time.monotonic() + 10
        while _uids(db) != ["recent"]:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        t0 = time.monotonic()
        sched.stop()
    assert time.monotonic() - t0 < 1  # the next pass, an hour away, is not waited for
    assert sched.job("hub retention").runs == 1


def test_cli_hub_retention(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    hub_dir = tmp_path / "hub"
    db = Database(f"sqlite:///{hub_dir / 'hub.db'}")
    _fill(db, hub_dir / "thumbs")
    db.close()
    cfg = tmp_path / "hub.yaml"
    cfg.write_text(f"hub_dir: {hub_dir}\nretention:\n  event_days: 2\n", encoding="utf-8")
    code = run(["hub", "--hub-config", str(cfg), "retention"])
    assert code == 0
    assert "deleted 2 events" in capsys.readouterr().out
    db = Database(f"sqlite:///{hub_dir / 'hub.db'}")
    assert _uids(db) == []
