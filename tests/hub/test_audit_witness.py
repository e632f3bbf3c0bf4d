"""The hub's copies of a site's signed audit heads (0065): the site's real messages
(`sync.edge`) stored by the hub's ingest into a real SQLite hub database, checked with the key
pinned from the first head, and `vigil hub audit verify SITE` naming the records lost."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from vigil.cli import run
from vigil.hub.audit_witness import verify_site
from vigil.hub.ingest import store_batch
from vigil.privacy.audit import Action, AuditLog
from vigil.privacy.keys import load_public, public_pem
from vigil.store.db import Database
from vigil.store.models import AuditCheckpoint, AuditRecord
from vigil.sync import wire
from vigil.sync.edge import audit_payload, head_message

SITE = "north"
Msg = tuple[str, bytes, dict[str, str]]


@pytest.fixture
def site(tmp_path: Path) -> tuple[AuditLog, Database]:
    data = tmp_path / "site"
    data.mkdir()
    db = Database(f"sqlite:///{data / 'vigil.db'}")
    yield AuditLog(data, checkpoint_every=1000), db
    db.close()


def _messages(audit: AuditLog, db: Database, seqs: range) -> list[Msg]:
    """Records `seqs` and the checkpoints among them as the site's publisher sends them."""
    pem = public_pem(load_public(audit.data_dir).public)  # type: ignore[union-attr]
    out: list[Msg] = []
    with db.session() as s:
        for r in s.scalars(select(AuditRecord).where(AuditRecord.seq.in_(list(seqs)))):
            out.append((wire.audit_subject(SITE), audit_payload(SITE, r).encode(), {}))
        for cp in s.scalars(select(AuditCheckpoint).where(AuditCheckpoint.seq.in_(list(seqs)))):
            subject, body, msg_id = head_message(SITE, cp, pem)
            out.append((subject, body, {"Nats-Msg-Id": msg_id}))
    return out


def _write(audit: AuditLog, db: Database, n: int, *, sign: bool = True) -> None:
    for i in range(n):
        audit.record(db, actor="bob", action=Action.view_events, details={"i": i})
    if sign:
        audit.checkpoint(db)


def test_hub_cli_names_the_records_a_site_lost(
    site: tuple[AuditLog, Database], tmp_path: Path, capsys
) -> None:  # type: ignore[no-untyped-def]
    audit, db = site
    hub = Database(f"sqlite:///{tmp_path / 'first-hub.db'}")
    _write(audit, db, 5)
    _write(audit, db, 5)  # heads at 5 and 10
    applied = store_batch(hub, SITE, _messages(audit, db, range(1, 11)))
    assert (applied.audit, applied.heads) == (10, 2)
    assert store_batch(hub, SITE, _messages(audit, db, range(1, 11))).heads == 0  # redelivery
    assert verify_site(hub, SITE).ok

    # A forged head (no key for it) and one altered after signing are kept, and reported.
    subject, body, _ = _messages(audit, db, range(10, 11))[-1]
    forged = json.loads(body) | {"seq": 11, "hash": "ab" * 32}
    store_batch(hub, SITE, [(subject, json.dumps(forged).encode(), {})])
    report = verify_site(hub, SITE)
    assert report.problems == [
        f"head at record 11 (received {_received(hub, 11)}) bad signature (forged or altered)"
    ]
    assert report.newest_seq == 10 and not report.losses

    hub.close()

    # The site's chain was cut and grew again: its next head is at a lower seq (another
    # chain signed with the same key, as the site's after the cut).
    hub_dir = tmp_path / "hub"
    hub_dir.mkdir()
    hub = Database(f"sqlite:///{hub_dir / 'hub.db'}")
    store_batch(hub, SITE, _messages(audit, db, range(1, 11)))
    regrown = tmp_path / "regrown"
    regrown.mkdir()
    (audit.data_dir / "keys").rename(regrown / "keys")
    other = Database(f"sqlite:///{regrown / 'vigil.db'}")
    cut = AuditLog(regrown)
    _write(cut, other, 7)
    store_batch(hub, SITE, _messages(cut, other, range(7, 8)))
    hub.close()
    other.close()
    capsys.readouterr()
    code = run(["hub", "--hub-dir", str(hub_dir), "audit", "verify", SITE, "--no-ask"])
    out = " ".join(capsys.readouterr().out.split())
    assert code == 4, out
    assert "the site's head went back from record 10 to 7" in out
    assert "records lost at north: 8-10" in out
    code = run(["hub", "--hub-dir", str(hub_dir), "audit", "verify", SITE, "--no-ask", "--json"])
    report_json = json.loads(capsys.readouterr().out)
    assert code == 4 and [(x["first"], x["last"]) for x in report_json["losses"]] == [(8, 10)]

    # The same from the hub's API (auditors only), here without a nats-server to ask the site.
    from tests.api.helpers import PASSWORD, Client
    from vigil.api import accounts
    from vigil.hub.app import create_hub_app
    from vigil.hub.config import HubConfig
    from vigil.hub.context import HubContext, create_hub_context
    from vigil.store.models.users import Role

    hub = Database(f"sqlite:///{hub_dir / 'hub.db'}")
    ctx = create_hub_context(HubConfig(hub_dir=hub_dir), hub)
    for role in (Role.auditor, Role.viewer):
        accounts.create_user(hub, role.value, PASSWORD, role, created_by="test")
    app = create_hub_app(ctx, HubContext(hub_dir, [SITE]), web=False)
    url = f"/api/v1/hub/sites/{SITE}/audit/verify"
    assert Client(app).login("viewer").get(url).status_code == 403
    auditor = Client(app).login("auditor")
    body = auditor.get(url).json()
    assert not body["ok"] and [(x["first"], x["last"]) for x in body["losses"]] == [(8, 10)]
    assert body["unreachable"] == "the hub runs without its nats-server"
    assert auditor.get("/api/v1/hub/sites/nowhere/audit/verify").status_code == 404
    hub.close()


def _received(db: Database, seq: int) -> str:
    from vigil.store.models.hub import HubAuditHead

    with db.session() as s:
        h = s.scalars(select(HubAuditHead).where(HubAuditHead.seq == seq)).one()
    return h.received_at.strftime("%Y-%m-%d %H:%M:%S UTC")


def test_a_head_from_an_older_site_without_a_key_waits_for_a_pinned_one(
    site: tuple[AuditLog, Database], tmp_path: Path
) -> None:
    audit, db = site
    hub = Database(f"sqlite:///{tmp_path / 'hub.db'}")
    _write(audit, db, 3)
    subject, body, _ = _messages(audit, db, range(3, 4))[-1]
    bare = json.loads(body)
    del bare["public_key"]
    store_batch(hub, SITE, [(subject, json.dumps(bare).encode(), {})])
    report = verify_site(hub, SITE)
    assert report.newest_seq is None
    assert "carries no public key and none is pinned" in report.problems[0]
    from vigil.hub.audit_witness import pin

    pem = public_pem(load_public(audit.data_dir).public)  # type: ignore[union-attr]
    pin(hub, SITE, pem.encode())
    assert verify_site(hub, SITE).ok  # checked again with the pinned key
    hub.close()


def test_hub_retention_keeps_each_sites_newest_head(
    site: tuple[AuditLog, Database], tmp_path: Path
) -> None:
    from datetime import UTC, datetime, timedelta

    from vigil.hub.retention import HubRetention, run_hub_retention
    from vigil.store.models.hub import HubAuditHead

    audit, db = site
    hub = Database(f"sqlite:///{tmp_path / 'hub.db'}")
    _write(audit, db, 2)
    _write(audit, db, 2)
    store_batch(hub, SITE, _messages(audit, db, range(1, 5)))
    later = datetime.now(UTC) + timedelta(days=400)
    assert run_hub_retention(hub, HubRetention(audit_days=365), now=later).heads == 1
    with hub.session() as s:
        assert s.scalars(select(HubAuditHead.seq)).all() == [4]
    hub.close()


def test_head_bodies_are_read_leniently_and_newer_schemas_refused() -> None:
    body = {
        "seq": 3,
        "hash": "ab" * 32,
        "time": "2026-12-06T10:00:00+00:00",
        "signature": "00",
        "key_id": "k",
        "from_a_newer_site": True,
    }
    head = wire.AuditHead.read(json.dumps(body))  # no schema: 1; unknown field ignored
    assert (head.seq, head.public_key, head.schema_version) == (3, "", 1)
    with pytest.raises(wire.WireError, match="newer"):
        wire.AuditHead.read({**body, "schema": wire.SCHEMA + 1})
    assert wire.parse_subject(wire.head_subject(SITE)) == wire.Subject(SITE, "heads", "")
