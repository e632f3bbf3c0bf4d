"""The audit chain against a real SQLite file: tampering, deletion, forged checkpoints, races."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import delete, select, update
from sqlalchemy.exc import DBAPIError

from vigil.privacy.audit import GENESIS, Action, AuditLog, ReasonRequired, record_hash
from vigil.privacy.keys import VerifyKey, public_pem
from vigil.store.db import Database
from vigil.store.models import AuditCheckpoint, AuditRecord


def _fill(audit: AuditLog, db: Database, n: int) -> None:
    for i in range(n):
        audit.record(
            db,
            actor="alice" if i % 2 else "bob",
            action=Action.search_face if i % 3 == 0 else Action.view_recording,
            reason=f"incident {i}",
            source="cli",
            camera="gate" if i % 2 else "yard",
            person=i % 4,
            target=("segment", f"gate/{i}.mp4"),
            details={"i": i, "score": 0.5 + i / 100, "tags": ["a", "ü"]},
        )


def _raw(data_dir: Path) -> sqlite3.Connection:
    """The SQLite file opened behind Vigil's back, append-only triggers dropped."""
    con = sqlite3.connect(data_dir / "vigil.db")
    for table in ("audit_records", "audit_checkpoints"):
        con.execute(f"DROP TRIGGER {table}_no_update")
        con.execute(f"DROP TRIGGER {table}_no_delete")
    return con


def test_intact_chain_verifies(audit: AuditLog, db: Database, cli) -> None:
    _fill(audit, db, 25)
    report = audit.verify(db)
    assert report.ok, report.problems
    assert (report.records, report.first_seq, report.last_seq) == (25, 1, 25)
    assert report.checkpoints == report.checkpoints_ok == 2  # at 10 and 20
    code, out, _ = cli("audit", "verify")
    assert code == 0 and "chain intact" in out
    with db.session() as s:
        first = s.get(AuditRecord, 1)
        assert first is not None and first.prev_hash == GENESIS
        assert first.hash == record_hash(first.__dict__, GENESIS)


def test_tampered_record_is_pinpointed(audit: AuditLog, db: Database, data_dir: Path, cli) -> None:
    _fill(audit, db, 30)
    con = _raw(data_dir)
    con.execute("UPDATE audit_records SET reason = 'routine check' WHERE seq = 17")
    con.commit()
    code, out, _ = cli("audit", "verify")
    assert code == 4
    assert "first problem: record 17 was altered" in " ".join(out.split())
    code, out, _ = cli("audit", "verify", "--json")
    report = json.loads(out)
    assert not report["ok"] and report["problems"][0]["seq"] == 17
    assert len(report["problems"]) == 1  # records after it still link to the original


def test_rewritten_chain_is_caught_by_the_next_checkpoint(
    audit: AuditLog, db: Database, data_dir: Path
) -> None:
    """Someone without the site key edits record 5 and recomputes every hash after it."""
    _fill(audit, db, 25)
    con = _raw(data_dir)
    con.execute("UPDATE audit_records SET actor = 'nobody' WHERE seq = 5")
    con.commit()
    with db.session() as s:
        rows = s.scalars(select(AuditRecord).order_by(AuditRecord.seq)).all()
    prev = GENESIS
    for r in rows:
        h = record_hash(r.__dict__, prev)
        con.execute("UPDATE audit_records SET prev_hash=?, hash=? WHERE seq=?", (prev, h, r.seq))
        prev = h
    con.commit()
    report = audit.verify(db)
    assert [(p.kind, p.seq) for p in report.problems] == [
        ("checkpoint_mismatch", 10),
        ("checkpoint_mismatch", 20),
    ]


def test_deleted_records_are_found(audit: AuditLog, db: Database, data_dir: Path, cli) -> None:
    _fill(audit, db, 25)
    con = _raw(data_dir)
    con.execute("DELETE FROM audit_records WHERE seq = 12")
    con.commit()
    code, out, _ = cli("audit", "verify")
    assert code == 4 and "record 12 missing" in out
    # Cutting the tail back past a checkpoint: the signed checkpoint names what is gone.
    con.execute("DELETE FROM audit_records WHERE seq >= 19")
    con.commit()
    report = audit.verify(db)
    assert [(p.kind, p.seq) for p in report.problems] == [
        ("missing", 12),
        ("checkpoint_missing_record", 20),
    ]
    # The first record gone.
    con.execute("DELETE FROM audit_records WHERE seq = 1")
    con.commit()
    assert audit.verify(db).first_problem.seq == 1  # type: ignore[union-attr]


def test_reordered_records_are_found(audit: AuditLog, db: Database, data_dir: Path) -> None:
    _fill(audit, db, 9)
    con = _raw(data_dir)
    cols = [c.name for c in AuditRecord.__table__.columns if c.name != "seq"]
    a = con.execute(f"SELECT {','.join(cols)} FROM audit_records WHERE seq=7").fetchone()
    b = con.execute(f"SELECT {','.join(cols)} FROM audit_records WHERE seq=8").fetchone()
    sets = ",".join(f"{c}=?" for c in cols)
    con.execute("UPDATE audit_records SET hash = 'x' WHERE seq = 7")  # free the unique hash
    con.execute(f"UPDATE audit_records SET {sets} WHERE seq=8", a)
    con.execute(f"UPDATE audit_records SET {sets} WHERE seq=7", b)
    con.commit()
    report = audit.verify(db)
    first = report.first_problem
    assert first is not None and first.seq == 7
    assert ("reordered", 7) in [(p.kind, p.seq) for p in report.problems]
    assert "record 7 follows record 8" in first.message or any(
        "follows record 8" in p.message for p in report.problems
    )


def test_forged_checkpoints_are_found(
    audit: AuditLog, db: Database, data_dir: Path, cli, tmp_path: Path
) -> None:
    _fill(audit, db, 30)
    con = _raw(data_dir)
    sig = con.execute("SELECT signature FROM audit_checkpoints WHERE seq = 20").fetchone()[0]
    bad = ("0" if sig[0] != "0" else "1") + sig[1:]
    con.execute("UPDATE audit_checkpoints SET signature = ? WHERE seq = 20", (bad,))
    con.commit()
    code, out, _ = cli("audit", "verify")
    assert code == 4 and "checkpoint 20 has a bad signature" in out
    report = audit.verify(db)
    assert [(p.kind, p.seq) for p in report.problems] == [("checkpoint_signature", 20)]
    assert report.checkpoints_ok == 2

    # Verifying with a key kept elsewhere: a replaced site key does not pass.
    other = tmp_path / "other.pub"
    other.write_text(public_pem(Ed25519PrivateKey.generate().public_key()))
    code, out, _ = cli("audit", "verify", "--pubkey", other)
    assert code == 4 and "not by the site key" in out
    kept = tmp_path / "site.pub"
    assert cli("audit", "pubkey", "--out", kept)[0] == 0
    report = audit.verify(db, key=VerifyKey.load(kept))
    assert [(p.kind, p.seq) for p in report.problems] == [("checkpoint_signature", 20)]


def test_searches_and_exports_need_a_reason(audit: AuditLog, db: Database) -> None:
    for action in (Action.search_face, Action.search_person, Action.export, Action.identify):
        for reason in ("", "   "):
            with pytest.raises(ReasonRequired, match="needs a stated reason"):
                audit.record(db, actor="alice", action=action, reason=reason)
    audit.record(db, actor="alice", action=Action.view_live, camera="gate")  # no reason needed
    rec = audit.record(db, actor="alice", action="export", reason="  police request 42 ")
    assert rec.seq == 2 and rec.reason == "police request 42"
    with pytest.raises(ReasonRequired):
        audit.record(db, actor="alice", action="search_face")
    with db.session() as s:
        assert s.scalar(select(AuditRecord.seq).order_by(AuditRecord.seq.desc())) == 2


def test_rows_cannot_be_edited_or_deleted_through_vigil(audit: AuditLog, db: Database) -> None:
    _fill(audit, db, 10)
    for stmt in (
        update(AuditRecord).where(AuditRecord.seq == 3).values(reason="x"),
        delete(AuditRecord).where(AuditRecord.seq == 3),
        update(AuditCheckpoint).values(signature="00"),
        delete(AuditCheckpoint),
    ):
        with pytest.raises(DBAPIError, match="append-only"), db.session() as s:
            s.execute(stmt)
    assert audit.verify(db).ok


def test_record_joins_the_callers_transaction(audit: AuditLog, db: Database) -> None:
    with pytest.raises(RuntimeError), db.session() as s:
        audit.record(s, actor="alice", action=Action.enroll, person=1)
        raise RuntimeError("enrolment failed")
    with db.session() as s:
        rec = audit.record(s, actor="alice", action=Action.enroll, person=1)
    assert rec.seq == 1 and audit.verify(db).ok


def test_concurrent_thread_writers_keep_one_chain(
    audit: AuditLog, db: Database, data_dir: Path
) -> None:
    other_db = Database(db.url)  # a second engine, as a second service in the process would
    errors: list[BaseException] = []

    def write(n: int, k: int) -> None:
        target = db if k % 2 else other_db
        try:
            for i in range(n):
                if k == 3:  # inside the caller's own transaction (BEGIN IMMEDIATE path)
                    with other_db.session() as s:
                        audit.record(s, actor=f"w{k}", action=Action.view_live, details={"i": i})
                else:
                    audit.record(target, actor=f"w{k}", action=Action.view_live, details={"i": i})
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(60, k)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    other_db.close()
    assert not errors
    report = audit.verify(db)
    assert report.ok, report.problems
    assert (report.records, report.last_seq, report.checkpoints_ok) == (240, 240, 24)


WRITER = """
import sys
from pathlib import Path
from vigil.privacy.audit import AuditLog
from vigil.store.db import Database
db = Database(sys.argv[1])
log = AuditLog(Path(sys.argv[2]), checkpoint_every=10)
for i in range(int(sys.argv[3])):
    log.record(db, actor=sys.argv[4], action="view_recording", details={"i": i})
"""


def test_concurrent_process_writers_keep_one_chain(
    audit: AuditLog, db: Database, data_dir: Path
) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, db.url, str(data_dir), "150", f"proc{k}"],
            stderr=subprocess.PIPE,
            text=True,
        )
        for k in range(2)
    ]
    for i in range(150):
        audit.record(db, actor="parent", action=Action.view_live, details={"i": i})
    for p in procs:
        _, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
    report = audit.verify(db)
    assert report.ok, report.problems
    assert report.records == report.last_seq == 450
    actors = {r.actor for r in audit.query(db, limit=1000)}
    assert actors == {"parent", "proc0", "proc1"}


def test_show_filters(audit: AuditLog, db: Database, cli) -> None:
    _fill(audit, db, 12)
    code, out, _ = cli("audit", "show", "--user", "alice", "--action", "search_face", "--json")
    rows = json.loads(out)
    assert (
        code == 0
        and rows
        and {(r["actor"], r["action"]) for r in rows} == {("alice", "search_face")}
    )
    assert [r["seq"] for r in rows] == sorted((r["seq"] for r in rows), reverse=True)
    rows = json.loads(cli("audit", "show", "--camera", "yard", "--person", "2", "--json")[1])
    assert rows and all(r["camera"] == "yard" and r["person"] == "2" for r in rows)
    now = datetime.now(UTC)
    rows = json.loads(
        cli("audit", "show", "--since", (now + timedelta(hours=1)).isoformat(), "--json")[1]
    )
    assert rows == []
    rows = json.loads(cli("audit", "show", "--until", now.isoformat(), "--limit", "5", "--json")[1])
    assert len(rows) == 5
    code, out, _ = cli("audit", "show", "--action", "view_audit")
    assert code == 0 and "view_audit" in out  # reading the log is itself recorded
    assert cli("audit", "show", "--action", "delete_everything")[0] == 2


def test_site_key_is_private_and_exportable(data_dir: Path, cli) -> None:
    code, out, _ = cli("audit", "pubkey")
    assert code == 0 and out.startswith("-----BEGIN PUBLIC KEY-----")
    private = data_dir / "keys" / "audit-ed25519.pem"
    assert private.stat().st_mode & 0o777 == 0o600
    assert (data_dir / "keys").stat().st_mode & 0o077 == 0
    assert (
        VerifyKey.from_pem(out.encode()).key_id
        == VerifyKey.load(data_dir / "keys" / "audit-ed25519.pub").key_id
    )
    code, _, err = cli("audit", "checkpoint")
    assert code == 1 and "empty" in err
