"""`GET /api/v1/audit/verify` says how far back the chain is witnessed, and fails once the tail
after a witnessed head is cut (0065). The real app, a real witness file, real SQLite."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.api.helpers import Client
from vigil.api import ApiContext
from vigil.privacy.audit import Action
from vigil.privacy.witness import AuditWitness


def test_audit_page_data_shows_the_witness_and_a_cut_tail(
    ctx: ApiContext, clients: dict[str, Client], tmp_path: Path
) -> None:
    auditor = clients["auditor"]
    w0 = auditor.get("/api/v1/audit/verify").json()["witness"]
    assert (w0["witnesses"], w0["seq"]) == ([], None)  # nothing configured: said so

    wfile = tmp_path / "other-disk.jsonl"
    ctx.config.privacy.audit_witness_file = wfile
    witness = AuditWitness.from_config(ctx.config, ctx.db)
    witness.audit.record(ctx.db, actor="t", action=Action.view_live)
    head = witness.final()
    assert head is not None
    rep = auditor.get("/api/v1/audit/verify").json()
    assert rep["ok"] and rep["witness"]["seq"] == head.seq
    assert rep["witness"]["by"] == [f"file:{wfile}"]
    assert rep["witness"]["unwitnessed"] == 0  # this call is audited after its report

    con = sqlite3.connect(ctx.config.storage.data_dir / "vigil.db")
    con.execute("DROP TRIGGER audit_records_no_delete")
    con.execute("DROP TRIGGER audit_checkpoints_no_delete")
    con.execute("DELETE FROM audit_records WHERE seq > ?", (head.seq - 2,))
    con.execute("DELETE FROM audit_checkpoints WHERE seq > ?", (head.seq - 2,))
    con.commit()
    con.close()
    rep = auditor.get("/api/v1/audit/verify").json()
    assert not rep["ok"]
    assert rep["problems"][0]["kind"] == "witness_cut"
    assert f"record {head.seq} was witnessed by file:{wfile}" in rep["problems"][0]["message"]
