"""The hub witnesses a site's audit heads (0065): real nats-servers (hub and leaf site), the
site's real agent (`EdgeSync`) publishing and answering `audit.head`, the hub's consumer."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import func, select

from vigil.config import VigilConfig
from vigil.hub.audit_witness import ask_and_verify, verify_site
from vigil.hub.ingest import HubConsumer
from vigil.privacy.audit import Action, AuditLog
from vigil.store.models import HubAuditRecord
from vigil.store.models.audit import AuditWitnessed
from vigil.store.models.hub import HubAuditHead, HubSiteKey
from vigil.sync.edge_agent import EdgeSync
from vigil.sync.server import connect_site, find_binary

from .test_sync import Net, await_for

pytestmark = pytest.mark.skipif(find_binary() is None, reason="nats-server binary missing")
SITE = "north"


def _write(audit: AuditLog, net: Net, n: int) -> None:
    for i in range(n):
        audit.record(net.dbs[SITE], actor="alice", action=Action.view_live, details={"i": i})


def _heads(net: Net) -> list[tuple[int, str, str]]:
    with net.hub_db.session() as s:
        rows = s.scalars(select(HubAuditHead).order_by(HubAuditHead.id))
        return [(h.seq, h.hash, h.problem) for h in rows]


def _held_max(net: Net) -> int:
    with net.hub_db.session() as s:
        return int(s.scalar(select(func.max(HubAuditRecord.seq))) or 0)


def _cut_after(db_file: Path, seq: int) -> None:
    con = sqlite3.connect(db_file)
    for table in ("audit_records", "audit_checkpoints"):
        con.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
    con.execute("DELETE FROM audit_records WHERE seq > ?", (seq,))
    con.execute("DELETE FROM audit_checkpoints WHERE seq > ?", (seq,))
    con.commit()
    con.close()


def test_hub_detects_a_site_whose_chain_lost_records_it_saw(tmp_path: Path) -> None:
    net = Net(tmp_path)
    net.start()
    data_dir = tmp_path / SITE
    edge = net.edges[SITE].spec
    cfg = VigilConfig.model_validate(
        {
            "storage": {"data_dir": str(data_dir)},
            "sync": {
                "enabled": True,
                "site_id": SITE,
                "run_server": False,
                "host": edge.host,
                "port": edge.port,
            },
        }
    )
    audit = AuditLog.from_config(cfg)
    agent = EdgeSync(cfg, net.dbs[SITE], data_dir, poll_s=0.1)
    agent.start()

    async def connect(site: str):  # type: ignore[no-untyped-def]
        return await connect_site(net.hub.access, site)

    async def scenario() -> None:
        consumer = HubConsumer(net.hub_db, net.hub.access, [SITE])
        task = asyncio.create_task(consumer.run())
        try:
            _write(audit, net, 6)
            audit.checkpoint(net.dbs[SITE])
            _write(audit, net, 4)
            cp = audit.checkpoint(net.dbs[SITE])
            assert cp is not None and cp.seq == 10
            await await_for(lambda: len(_heads(net)) == 2 and _held_max(net) == 10, 15)
            assert [(seq, problem) for seq, _, problem in _heads(net)] == [(6, ""), (10, "")]
            with net.hub_db.session() as s:  # the site's key, pinned from its first head
                assert s.scalars(select(HubSiteKey.key_id)).all() == [cp.key_id]
            # the site notes the heads the hub acked as witnessed by the hub
            await await_for(lambda: _noted(net) == [6, 10], 10)

            report, unreachable = await ask_and_verify(net.hub_db, SITE, connect, 5)
            assert report.ok and report.asked and not unreachable, report.as_dict()
            assert (report.newest_seq, report.site_last_seq) == (10, 10)

            # records 8-10 and the checkpoint at 10 deleted at the site
            _cut_after(data_dir / "vigil.db", 7)
            report, _ = await ask_and_verify(net.hub_db, SITE, connect, 5)
            assert not report.ok and report.site_last_seq == 7
            assert report.lost_seqs() == "8-10"
            assert "the site's chain ends at record 7" in report.losses[0].why

            # the site grows again and signs record 10 anew: seen by the hub alone
            _write(audit, net, 3)
            audit.checkpoint(net.dbs[SITE])
            await await_for(lambda: len(_heads(net)) == 3, 15)
            report = verify_site(net.hub_db, SITE)  # the site not asked
            assert [(x.first, x.last) for x in report.losses] == [(10, 10)]
            assert "signed record 10 again with another hash" in report.losses[0].why
        finally:
            consumer.stop()
            await asyncio.wait_for(task, 10)

    try:
        asyncio.run(scenario())
    finally:
        agent.stop()
        net.stop()


def _noted(net: Net) -> list[int]:
    with net.dbs[SITE].session() as s:
        return sorted(
            s.scalars(select(AuditWitnessed.seq).where(AuditWitnessed.witness == "hub")).all()
        )
