"""Witnessed audit heads (0065): a real witness file on another folder, a real UDP syslog
receiver on loopback, the real EdgeNode scheduler, real SQLite."""

from __future__ import annotations

import itertools
import json
import socket
import sqlite3
import time
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from vigil.config import VigilConfig, load_config
from vigil.faces.engine import FaceEngine
from vigil.node import EdgeNode
from vigil.privacy import witness
from vigil.privacy.audit import Action, AuditLog, checkpoint_message
from vigil.privacy.keys import load_public
from vigil.store.db import Database
from vigil.store.models import AuditCheckpoint
from vigil.store.models.audit import AuditWitnessed


def _config(tmp_path: Path, data_dir: Path, **privacy: object) -> Path:
    path = tmp_path / "vigil.yaml"
    path.write_text(
        yaml.safe_dump({"storage": {"data_dir": str(data_dir)}, "privacy": privacy}),
        encoding="utf-8",
    )
    return path


def _write(audit: AuditLog, db: Database, n: int) -> None:
    for i in range(n):
        audit.record(db, actor="alice", action=Action.view_recording, details={"i": i})


def _cut_after(data_dir: Path, seq: int) -> None:
    """Delete every record and checkpoint after `seq` behind Vigil's back (triggers dropped)."""
    con = sqlite3.connect(data_dir / "vigil.db")
    for table in ("audit_records", "audit_checkpoints"):
        con.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
    con.execute("DELETE FROM audit_records WHERE seq > ?", (seq,))
    con.execute("DELETE FROM audit_checkpoints WHERE seq > ?", (seq,))
    con.execute("DELETE FROM audit_witnessed")  # and the local notes: the file still knows
    con.commit()
    con.close()


def test_cutting_the_tail_after_a_witnessed_head_fails_verify(
    tmp_path: Path, data_dir: Path, db: Database, cli
) -> None:
    other_disk = tmp_path / "other-disk"
    other_disk.mkdir()
    wfile = other_disk / "audit-heads.jsonl"
    cfg_path = _config(tmp_path, data_dir, audit_witness_file=str(wfile))
    cfg = load_config(cfg_path)
    w = witness.AuditWitness.from_config(cfg, db)
    audit = w.audit
    _write(audit, db, 12)
    head = w.final()
    assert head is not None and head.seq == 12
    _write(audit, db, 3)  # 13-15: not witnessed yet

    code, out, _ = cli("-c", cfg_path, "audit", "verify")
    flat = " ".join(out.split())
    assert code == 0, out
    assert "chain intact" in flat
    assert "witnessed up to record 12" in flat and "by file:" in flat
    assert "3 record(s) after it not witnessed yet" in flat
    line = json.loads(wfile.read_text().splitlines()[-1])
    assert (line["seq"], line["hash"]) == (12, head.hash)

    # Records 9-16 deleted with their checkpoints: the chain alone still verifies...
    _cut_after(data_dir, 8)
    assert audit.verify(db).ok
    # ...the witness file does not let it pass.
    code, out, _ = cli("-c", cfg_path, "audit", "verify")
    flat = " ".join(out.split())
    assert code == 4, out
    assert "the chain ends at record 8, but record 12 was witnessed by" in flat
    assert "records 9 to 12 were deleted" in flat
    report = json.loads(cli("-c", cfg_path, "audit", "verify", "--json")[1])
    # (the verify above was recorded as record 9: the chain now ends at 9)
    assert [(p["kind"], p["seq"]) for p in report["problems"]] == [("witness_cut", 10)]
    assert report["witness"]["seq"] is None  # no witnessed head is reached any more

    # Grown again past the witnessed seq: the chain differs at the witnessed head.
    _write(audit, db, 6)  # new 9-14 (plus the two audit_verify records of the CLI above)
    code, out, _ = cli("-c", cfg_path, "audit", "verify", "--json")
    report = json.loads(out)
    assert code == 4
    assert ("witness_differs", 12) in [(p["kind"], p["seq"]) for p in report["problems"]]


def test_a_forged_line_in_the_witness_file_is_reported(
    tmp_path: Path, data_dir: Path, db: Database
) -> None:
    wfile = tmp_path / "heads.jsonl"
    cfg = load_config(_config(tmp_path, data_dir, audit_witness_file=str(wfile)))
    w = witness.AuditWitness.from_config(cfg, db)
    _write(w.audit, db, 3)
    w.final()
    forged = json.loads(wfile.read_text())
    forged.update(seq=99, hash="ab" * 32)
    with wfile.open("a") as f:
        f.write(json.dumps(forged) + "\n" + '{"torn": ')
    report = witness.verify(cfg, db)
    assert [(p.kind, p.seq) for p in report.problems] == [("witness_signature", 99)]
    assert report.witness is not None and report.witness["seq"] == 3
    assert "1 line(s) of the witness file are not heads" in report.witness["notes"]


def test_syslog_witness_receives_a_signed_head(data_dir: Path, db: Database) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx:
        rx.bind(("127.0.0.1", 0))
        rx.settimeout(5)
        port = rx.getsockname()[1]
        cfg = VigilConfig.model_validate(
            {
                "storage": {"data_dir": str(data_dir)},
                "privacy": {"audit_witness_syslog": f"127.0.0.1:{port}"},
            }
        )
        w = witness.AuditWitness.from_config(cfg, db)
        _write(w.audit, db, 4)
        head = w.final()
        data, _ = rx.recvfrom(65536)
    assert head is not None
    msg = data.decode()
    assert msg.startswith("<38>")  # facility auth (4) * 8 + priority info (6)
    body = json.loads(msg.split(f"{witness.HEAD_KIND} ", 1)[1].rstrip("\x00"))
    got = witness.Head.from_dict(body)
    assert (got.seq, got.hash) == (4, head.hash)
    key = load_public(data_dir)
    assert key is not None
    assert key.verify(bytes.fromhex(got.signature), checkpoint_message(4, got.hash, got.time))
    with db.session() as s:
        noted = s.scalars(select(AuditWitnessed)).one()
    assert (noted.witness, noted.seq) == (f"syslog:127.0.0.1:{port}", 4)
    with pytest.raises(Exception, match="host:port"):
        witness.syslog_address("no-port")


def test_node_signs_a_head_within_the_interval_and_at_shutdown(
    tmp_path: Path, data_dir: Path, engine: FaceEngine
) -> None:
    wfile = tmp_path / "heads.jsonl"
    interval = 0.4
    cfg = load_config(
        _config(tmp_path, data_dir, audit_witness_file=str(wfile), audit_head_interval_s=interval)
    )
    db = Database(cfg.storage.resolved_database_url())
    node = EdgeNode(cfg, db, engine)
    audit = AuditLog.from_config(cfg)
    node.start()
    try:
        end = time.monotonic() + 5 * interval
        while time.monotonic() < end:  # records written all along
            _write(audit, db, 1)
            time.sleep(0.02)
        with db.session() as s:
            signed = [cp.time for cp in s.scalars(select(AuditCheckpoint).order_by("seq"))]
        assert len(signed) >= 4
        # after the first (the node's start keeps two cores busy): never more than the
        # interval apart, give or take a loaded machine's scheduling
        gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(signed[1:])]
        assert max(gaps) <= interval + 0.2, gaps
        _write(audit, db, 1)
        last = audit.query(db, limit=1)[0].seq
    finally:
        node.stop()
    with db.session() as s:
        newest = s.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.seq.desc())).first()
    assert newest is not None and newest.seq == last  # signed at shutdown
    lines = [json.loads(x) for x in wfile.read_text().splitlines()]
    assert lines[-1]["seq"] == last and len(lines) >= 4
    db.close()


def test_a_head_removed_by_audit_retention_is_not_a_loss(
    tmp_path: Path, data_dir: Path, db: Database
) -> None:
    from datetime import UTC, datetime, timedelta

    cfg = load_config(_config(tmp_path, data_dir, audit_witness_file=str(tmp_path / "w.jsonl")))
    w = witness.AuditWitness.from_config(cfg, db)
    _write(w.audit, db, 5)
    w.final()
    _write(w.audit, db, 2)
    w.final()  # heads at 5 and 7, both in the file
    cut = w.audit.truncate(db, before=datetime.now(UTC) + timedelta(seconds=1))
    assert cut.anchor_seq == 7  # records 1-7 went behind a signed anchor
    report = witness.verify(cfg, db)
    assert report.ok, report.problems
    assert report.witness is not None and report.witness["heads"] == 2
