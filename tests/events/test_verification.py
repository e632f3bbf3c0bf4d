"""Match verification outside the API: `vigil watchlists`, `vigil events verify` (in-process
CLI), migration 0021, and a hub-pushed watchlist's confirmations (real SQLite database)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.notify.conftest import add_person
from vigil.cli import run
from vigil.config import VigilConfig
from vigil.errors import InputError
from vigil.events.store import Routing, create_event, update_event
from vigil.events.watchlists import add_to_watchlist, create_watchlist
from vigil.store.db import Database
from vigil.store.models.audit import AuditRecord
from vigil.store.models.events import Delivery


def test_watchlist_confirmations_and_a_verdict_from_the_cli(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def cli(*args: str) -> tuple[int, str]:
        code = run(["--data-dir", str(data_dir), *args])
        out = capsys.readouterr()
        return code, out.out + out.err

    assert cli("watchlists", "create", "banned", "--action", "alert")[0] == 0
    code, out = cli("watchlists", "set", "banned", "--confirmations", "4")
    assert code == 2 and "0 (none) to 3" in out
    code, out = cli("watchlists", "list", "--json")
    assert json.loads(out)[0]["confirmations_required"] == 2

    cfg = VigilConfig.model_validate({"storage": {"data_dir": str(data_dir)}})
    db = Database(cfg.storage.resolved_database_url())
    try:
        person = add_person(db, "Mallory")
        add_to_watchlist(db, "banned", person)
        routing = Routing(webhooks=(("http://127.0.0.1:9/hook", frozenset()),))
        e = create_event(
            db,
            camera="gate",
            kind="known_person",
            start=datetime(2026, 12, 6, 8, tzinfo=UTC),
            person_id=person,
            score=0.6,
            routing=routing,
        )
        code, out = cli("events", "pending", "--json")
        assert json.loads(out)["total"] == 1
        assert cli("events", "verify", e.uid, "--confirm")[0] == 2  # no reason
        code, out = cli("events", "verify", e.uid, "--confirm", "--reason", "matches the photo")
        assert code == 0 and "pending (1 of 2 confirmations)" in out
        code, out = cli("events", "verify", e.uid, "--reject", "--reason", "second thoughts")
        assert code == 4 and "already given a verdict" in out
        with db.session() as s:
            held = list(s.scalars(select(Delivery.held).where(Delivery.event_uid == e.uid)))
            records = list(
                s.scalars(select(AuditRecord).where(AuditRecord.action == "match_verify"))
            )
        assert held == [True]
        assert [(r.reason, r.details["verdict"], r.source) for r in records] == [
            ("matches the photo", "confirm", "cli")
        ]
    finally:
        db.close()


def test_migration_gives_existing_alert_lists_two_confirmations(tmp_path: Path) -> None:
    from alembic import command
    from sqlalchemy import inspect, text

    from vigil.store.db import alembic_config

    url = f"sqlite:///{tmp_path / 'old.db'}"
    db = Database(url, migrate=False)
    cfg = alembic_config(url)
    try:
        with db.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0020_recognition_log")
            for name, action in (("banned", "alert"), ("staff", "notify")):
                conn.execute(
                    text(
                        "INSERT INTO watchlists (name, action, notes, created_at) "
                        "VALUES (:n, :a, '', '2026-12-01 00:00:00')"
                    ),
                    {"n": name, "a": action},
                )
        db.upgrade()
        with db.engine.begin() as conn:
            rows = conn.execute(text("SELECT name, confirmations_required FROM watchlists"))
            got = {name: n for name, n in rows}
        assert got == {"banned": 2, "staff": 0}
        with db.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0020_recognition_log")
        tables = inspect(db.engine).get_table_names()
        assert "verified_pairs" not in tables and "match_verifications" not in tables
        columns = {c["name"] for c in inspect(db.engine).get_columns("watchlists")}
        assert "confirmations_required" not in columns
    finally:
        db.close()


def test_hub_pushed_watchlist_carries_confirmations(data_dir: Path) -> None:
    from vigil.store.models.events import Watchlist
    from vigil.sync import wire
    from vigil.sync.commands import CommandContext
    from vigil.sync.site_gallery import watchlist_put

    cfg = VigilConfig.model_validate({"storage": {"data_dir": str(data_dir)}})
    db = Database(cfg.storage.resolved_database_url())
    ctx = CommandContext(db, cfg, data_dir)

    def push(uid: str, action: str, **extra: object) -> int:
        body = wire.WatchlistPut.read({"uid": uid, "name": uid, "action": action, **extra})
        watchlist_put(ctx, body)
        with db.session() as s:
            w = s.scalar(select(Watchlist).where(Watchlist.hub_uid == uid))
            assert w is not None
            return w.confirmations_required

    try:
        assert push("old-hub-alert", "alert") == 2  # an older hub sends no field
        assert push("old-hub-notify", "notify") == 0
        assert push("set", "alert", confirmations_required=3) == 3
        assert push("set", "alert", confirmations_required=1) == 1
        with pytest.raises(InputError):
            push("bad", "alert", confirmations_required=9)
    finally:
        db.close()


def test_a_better_match_on_a_confirming_list_holds_the_end(data_dir: Path) -> None:
    """Announced as someone on no list, completed as someone on an alert list: the end
    notification (which would name them) waits for people to confirm."""
    cfg = VigilConfig.model_validate({"storage": {"data_dir": str(data_dir)}})
    db = Database(cfg.storage.resolved_database_url())
    try:
        ann, bob = add_person(db, "Ann"), add_person(db, "Bob")
        create_watchlist(db, "banned", "alert")
        add_to_watchlist(db, "banned", bob)
        routing = Routing(webhooks=(("http://127.0.0.1:9/hook", frozenset()),))
        t0 = datetime(2026, 12, 6, 8, tzinfo=UTC)
        e = create_event(
            db,
            camera="gate",
            kind="known_person",
            start=t0,
            person_id=ann,
            score=0.5,
            routing=routing,
        )
        assert e.verification is None
        done = update_event(
            db, e.uid, end=t0, data_dir=data_dir, person_id=bob, score=0.7, routing=routing
        )
        assert (done.verification, done.confirmations_required) == ("pending", 2)
        with db.session() as s:
            rows = s.execute(
                select(Delivery.state, Delivery.held).where(Delivery.event_uid == e.uid)
            )
            assert sorted((str(st), h) for st, h in rows) == [("ended", True), ("started", False)]
    finally:
        db.close()
