"""Audit retention: records past it go up to a signed checkpoint, leaving a signed anchor."""

from __future__ import annotations

import json
import sqlite3
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DBAPIError

from vigil.privacy import audit as audit_mod
from vigil.privacy.audit import Action, AuditLog, record_hash
from vigil.store.db import Database
from vigil.store.models import AuditAnchor, AuditCheckpoint, AuditRecord

NOW = datetime.now(UTC)
OLD = NOW - timedelta(days=400)


class Clock:
    def __init__(self, t: datetime) -> None:
        self.t = t

    def __call__(self) -> datetime:
        self.t += timedelta(milliseconds=1)
        return self.t


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock(OLD)
    monkeypatch.setattr(audit_mod, "utcnow", c)
    return c


@pytest.fixture
def config_file(tmp_path: Path, data_dir: Path) -> Path:
    path = tmp_path / "vigil.yaml"
    path.write_text(
        f"storage:\n  data_dir: {data_dir}\n"
        "privacy:\n  audit_retention_days: 365\n  audit_checkpoint_every: 10\n"
    )
    return path


def _fill(audit: AuditLog, db: Database, clock: Clock, old: int, young: int) -> None:
    """`old` records 400 days ago (seq 1..old), then `young` of today."""
    for i in range(old + young):
        if i == old:
            clock.t = NOW
        audit.record(db, actor="alice", action=Action.view_live, camera="gate", details={"i": i})


def _raw(data_dir: Path) -> sqlite3.Connection:
    return sqlite3.connect(data_dir / "vigil.db")


def _seqs(db: Database) -> list[int]:
    with db.session() as s:
        return list(s.scalars(select(AuditRecord.seq).order_by(AuditRecord.seq)))


def test_truncation_stops_at_the_last_checkpoint_before_young_records(
    audit: AuditLog, db: Database, clock: Clock, cli, config_file: Path
) -> None:
    _fill(audit, db, clock, old=25, young=15)  # checkpoints at 10, 20, 30, 40
    cut = audit.truncate(db, before=NOW - timedelta(days=365))
    assert (cut.anchor_seq, cut.records_removed, cut.checkpoints_removed) == (20, 20, 2)
    assert cut.removed_from is not None and cut.removed_to is not None
    assert cut.removed_from < cut.removed_to < NOW - timedelta(days=365)
    # 21..25 are past retention but after the last checkpoint among them: kept; 41 = the cut
    assert _seqs(db) == list(range(21, 42))
    with db.session() as s:
        last = s.get(AuditRecord, 41)
        assert last is not None and last.action == "audit_truncate"
        assert last.details["records_removed"] == 20 and last.details["anchor_seq"] == 20
    report = audit.verify(db)
    assert report.ok, report.problems
    assert report.anchor is not None and report.anchor["seq"] == 20
    assert (report.first_seq, report.last_seq, report.checkpoints_ok) == (21, 41, 2)
    code, out, _ = cli("--config", config_file, "audit", "verify")
    assert code == 0, out
    flat = " ".join(out.split())
    assert "starts after the anchor at record 20" in flat and "20 record(s)" in flat
    assert "chain intact" in flat
    # Nothing more can go: no checkpoint between the anchor and the first young record.
    again = audit.truncate(db, before=NOW - timedelta(days=365))
    assert again.records_removed == 0 and "no signed checkpoint" in again.note
    assert _seqs(db)[0] == 21


def test_privacy_retention_truncates_and_reports(
    audit: AuditLog, db: Database, clock: Clock, cli, config_file: Path
) -> None:
    _fill(audit, db, clock, old=12, young=3)  # checkpoint at 10 only
    code, out, err = cli("--config", config_file, "privacy", "retention", "--json")
    assert code == 0, err
    r = json.loads(out)
    assert (r["audit_anchor_seq"], r["audit_records_removed"]) == (10, 10)
    assert r["audit_records_past_retention"] == 2  # 11 and 12 wait for the next checkpoint
    assert "kept" in r["audit_note"]
    actions = [rec.action for rec in audit.query(db, limit=3)]
    assert actions[:2] == ["retention_run", "audit_truncate"]
    assert audit.verify(db).ok


def test_nothing_is_deleted_from_a_chain_that_does_not_verify(
    audit: AuditLog, db: Database, clock: Clock, data_dir: Path
) -> None:
    _fill(audit, db, clock, old=25, young=5)
    con = _raw(data_dir)
    con.execute("DROP TRIGGER audit_records_no_update")
    con.execute("UPDATE audit_records SET reason = 'hidden' WHERE seq = 4")
    con.commit()
    cut = audit.truncate(db, before=NOW - timedelta(days=365))
    assert cut.records_removed == 0 and "record 4 was altered" in cut.note
    assert _seqs(db)[0] == 1


def test_tampered_anchor_is_pinpointed(
    audit: AuditLog, db: Database, clock: Clock, data_dir: Path, cli, config_file: Path
) -> None:
    _fill(audit, db, clock, old=25, young=5)
    audit.truncate(db, before=NOW - timedelta(days=365))
    con = _raw(data_dir)
    con.execute("DROP TRIGGER audit_anchors_no_update")
    con.execute("UPDATE audit_anchors SET records_removed = 3")  # hide how much went
    con.commit()
    code, out, _ = cli("--config", config_file, "audit", "verify")
    assert code == 4
    assert "first problem: anchor at record 20" in " ".join(out.split())
    assert "bad signature" in out


def test_tampered_first_remaining_record_is_pinpointed(
    audit: AuditLog, db: Database, clock: Clock, data_dir: Path
) -> None:
    _fill(audit, db, clock, old=25, young=5)
    audit.truncate(db, before=NOW - timedelta(days=365))
    con = _raw(data_dir)
    con.execute("DROP TRIGGER audit_records_no_update")
    con.execute("UPDATE audit_records SET actor = 'mallory' WHERE seq = 21")
    con.commit()
    first = audit.verify(db).first_problem
    assert first is not None and (first.kind, first.seq) == ("altered", 21)
    # Relinked to another predecessor and rehashed: it no longer chains to the anchor.
    con.execute("DROP TRIGGER IF EXISTS audit_records_no_update")
    with db.session() as s:
        row = s.execute(select(AuditRecord.__table__).where(AuditRecord.seq == 21)).mappings()
        values = dict(row.one())
        values["actor"] = "alice"
        fake_prev = "f" * 64
        s.execute(
            update(AuditRecord)
            .where(AuditRecord.seq == 21)
            .values(actor="alice", prev_hash=fake_prev, hash=record_hash(values, fake_prev))
        )
    report = audit.verify(db)
    first = report.first_problem
    assert first is not None and (first.kind, first.seq) == ("anchor_mismatch", 21), first
    assert "does not chain to the anchor at record 20" in first.message


def test_only_the_retention_path_deletes(
    audit: AuditLog, db: Database, clock: Clock, data_dir: Path
) -> None:
    _fill(audit, db, clock, old=35, young=5)
    audit.truncate(db, before=NOW - timedelta(days=365))  # anchor at 30
    con = _raw(data_dir)
    for sql in (
        "DELETE FROM audit_records",
        "DELETE FROM audit_records WHERE seq = 33",
        "DELETE FROM audit_checkpoints",
        "UPDATE audit_records SET reason = 'x' WHERE seq = 31",
        "DELETE FROM audit_anchors",
        "UPDATE audit_anchors SET seq = 40",
        # an anchor must sit on an existing checkpoint (seq and hash)
        "INSERT INTO audit_anchors (seq, hash, first_seq, records_removed, checkpoints_removed,"
        " removed_from, removed_to, time, checkpoint_time, checkpoint_signature,"
        " checkpoint_key_id, signature, key_id) VALUES (35, 'x', 31, 5, 0, '2020-01-01',"
        " '2020-01-01', '2020-01-01', '2020-01-01', '', '', '', '')",
    ):
        with pytest.raises(sqlite3.DatabaseError, match=r"append-only|anchor must sit"):
            con.execute(sql)
        con.rollback()
    assert _seqs(db) == list(range(31, 42))
    # Through SQLAlchemy too, as the app would.
    with pytest.raises(DBAPIError, match="append-only"), db.session() as s:
        s.execute(delete(AuditRecord).where(AuditRecord.seq < 35))


def test_a_forged_anchor_is_caught(
    audit: AuditLog, db: Database, clock: Clock, data_dir: Path
) -> None:
    """Someone without the site key anchors at checkpoint 40 to delete 31..40: verify says so."""
    _fill(audit, db, clock, old=35, young=10)
    audit.truncate(db, before=NOW - timedelta(days=365))  # anchor at 30
    with db.session() as s:
        real = s.scalars(select(AuditAnchor)).one()
        cp = s.scalars(select(AuditCheckpoint).where(AuditCheckpoint.seq == 40)).one()
        forged = {c.key: getattr(real, c.key) for c in AuditAnchor.__table__.columns}
        forged.update(id=None, seq=40, hash=cp.hash, first_seq=31, records_removed=10)
        s.add(AuditAnchor(**forged))
        s.flush()
        s.execute(delete(AuditCheckpoint).where(AuditCheckpoint.seq <= 40))
        s.execute(delete(AuditRecord).where(AuditRecord.seq <= 40))
    report = audit.verify(db)
    assert not report.ok
    first = report.first_problem
    assert first is not None and first.kind == "anchor_signature" and first.seq == 40


def test_truncation_on_postgresql(clock: Clock, data_dir: Path) -> None:
    pytest.importorskip("pgserver")
    from vigil.hub.pg import embedded_postgres_url

    with tempfile.TemporaryDirectory(prefix="pg", dir="/tmp") as tmp:  # short socket path
        db = Database(embedded_postgres_url(Path(tmp) / "pg"))
        try:
            _check_postgres(db, data_dir, clock)
        finally:
            db.close()


def _check_postgres(db: Database, data_dir: Path, clock: Clock) -> None:
    audit = AuditLog(data_dir, checkpoint_every=10)
    _fill(audit, db, clock, old=25, young=5)
    cut = audit.truncate(db, before=NOW - timedelta(days=365))
    assert (cut.anchor_seq, cut.records_removed) == (20, 20)
    assert _seqs(db) == list(range(21, 32))
    report = audit.verify(db)
    assert report.ok and report.anchor is not None and report.anchor["seq"] == 20
    for sql in (
        "DELETE FROM audit_records",
        "DELETE FROM audit_records WHERE seq = 22",
        "UPDATE audit_records SET reason = 'x' WHERE seq = 22",
        "TRUNCATE audit_records",
        "DELETE FROM audit_anchors",
        "INSERT INTO audit_anchors (seq, hash, first_seq, records_removed, checkpoints_removed,"
        " removed_from, removed_to, time, checkpoint_time, checkpoint_signature,"
        " checkpoint_key_id, signature, key_id) VALUES (25, 'x', 21, 5, 0, now(), now(),"
        " now(), now(), '', '', '', '')",
    ):
        with pytest.raises(DBAPIError, match=r"append-only|anchor must sit"), db.session() as s:
            s.execute(text(sql))
    assert _seqs(db) == list(range(21, 32))


def test_a_quiet_site_still_gets_a_daily_checkpoint_to_cut_at(
    db: Database, data_dir: Path, tmp_path: Path, cli
) -> None:
    cfg = tmp_path / "quiet.yaml"
    cfg.write_text(f"storage:\n  data_dir: {data_dir}\n")  # a checkpoint every 1000 records
    audit = AuditLog(data_dir, checkpoint_every=1000)
    for _ in range(3):
        audit.record(db, actor="alice", action=Action.view_live)
    assert cli("--config", cfg, "privacy", "retention")[0] == 0
    with db.session() as s:
        signed = list(s.scalars(select(AuditCheckpoint.seq)))
    assert signed == [4]  # the head: 3 views and the pass's own record
    assert cli("--config", cfg, "privacy", "retention")[0] == 0  # again the same day: no more
    with db.session() as s:
        assert list(s.scalars(select(AuditCheckpoint.seq))) == [4]
