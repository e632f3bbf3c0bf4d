"""`vigil serve` with `sync.enabled`: the EdgeNode starts the site's own nats-server (a leaf
node of a real hub server) and publishes by itself; the hub's requests are answered."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from vigil.cli import run
from vigil.config import load_config
from vigil.events.store import create_event, new_uid
from vigil.faces.engine import FaceEngine
from vigil.hub.ingest import HubConsumer
from vigil.node import EdgeNode
from vigil.pipeline.analyzer import EventDraft
from vigil.process import free_port
from vigil.store.db import Database
from vigil.store.models import HubCameraStatus, HubEvent
from vigil.sync.commands import HANDLERS, CommandContext
from vigil.sync.edge_agent import leaf_url
from vigil.sync.server import NatsServer, ServerSpec, SiteLogin, connect_site, find_binary

from .test_sync import await_for

pytestmark = pytest.mark.skipif(find_binary() is None, reason="nats-server binary missing")
SITE = "east"


def _hub_count(db: Database, **where: str) -> int:
    with db.session() as s:
        q = select(func.count()).select_from(HubEvent)
        for k, v in where.items():
            q = q.where(getattr(HubEvent, k) == v)
        return int(s.scalar(q) or 0)


def test_leaf_url_adds_the_login() -> None:
    assert leaf_url("nats-leaf://hub.example:7422", "east", "p@ss/1") == (
        "nats-leaf://east:p%40ss%2F1@hub.example:7422"
    )
    from vigil.errors import ConfigError

    with pytest.raises(ConfigError, match="nats-leaf://host:port"):
        leaf_url("hub.example:7422", "east", "pw")


def test_serve_publishes_to_the_hub_by_itself(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    leaf = free_port()
    hub = NatsServer(
        ServerSpec(
            "hub",
            tmp_path / "hub-js",
            free_port(),
            free_port(),
            "hub",
            leaf_port=leaf,
            sites=[SiteLogin(SITE, "pw-east")],
            hub_secret="s3cret",
        ),
        tmp_path / "hub",
    )
    hub.start()
    hub_db = Database(f"sqlite:///{tmp_path / 'hub.db'}")
    cfg_file = tmp_path / "vigil.yaml"
    cfg_file.write_text(
        f"""storage:
  data_dir: {tmp_path / "site"}
sync:
  enabled: true
  site_id: {SITE}
  hub_url: nats-leaf://127.0.0.1:{leaf}
  password: pw-east
  port: {free_port()}
  http_port: {free_port()}
""",
        encoding="utf-8",
    )
    cfg = load_config(cfg_file)
    db = Database(cfg.storage.resolved_database_url())
    node = EdgeNode(cfg, db, FaceEngine(cfg.faces))

    def echo(ctx: CommandContext, body: dict) -> dict:  # type: ignore[type-arg]
        return {"site": ctx.site, "echo": body}

    HANDLERS["test.echo"] = echo
    node.start()
    try:
        assert node.sync is not None and node.sync.server is not None
        assert node.sync.connected.wait(15)
        assert await_leaf(hub)

        async def scenario() -> None:
            consumer = HubConsumer(hub_db, hub.access, [SITE])
            task = asyncio.create_task(consumer.run())
            nc = await connect_site(hub.access, SITE)
            try:
                # written by another process (CLI, API): found by the agent's poll
                create_event(db, camera="gate", kind="person", start=datetime.now(UTC))
                await await_for(lambda: _hub_count(hub_db) == 1, 15)

                # stored by the node's analysis sink: published at once (wake), the poll
                # being pushed out to a minute
                assert node.sync is not None
                node.sync.poll_s = 60
                node.sync.wake()
                await asyncio.sleep(0.3)
                now = time.time()
                node.store_event(
                    EventDraft("yard", "person", now - 1, now, 7, [], None, uid=new_uid())
                )
                waited = await await_for(lambda: _hub_count(hub_db, camera="yard") == 1, 10)
                assert waited < 5

                node.sync.camera_status("gate", "recording")
                await await_for(lambda: _status(hub_db, "gate") == "recording", 10)

                # hub -> site commands through the site's account
                r = await nc.request(f"vigil.{SITE}.cmd.test.echo", b'{"x": 1}', timeout=5)
                assert json.loads(r.data) == {"ok": True, "site": SITE, "echo": {"x": 1}}
                r = await nc.request(f"vigil.{SITE}.cmd.no.such.verb", b"{}", timeout=5)
                assert json.loads(r.data) == {
                    "schema": 1,
                    "ok": False,
                    "error": "unknown command 'no.such.verb'",
                }
                r = await nc.request(f"vigil.{SITE}.cmd.test.echo", b"[1, 2", timeout=5)
                reply = json.loads(r.data)
                assert reply["ok"] is False and reply["error"].startswith("bad request")

                # the site's nats-server crashes: the agent restarts it and goes on
                server = node.sync.server
                assert server is not None and server.proc is not None
                server.proc.kill()
                node.sync.poll_s = 0.5
                node.sync.wake()
                create_event(db, camera="gate", kind="person", start=datetime.now(UTC))
                await await_for(lambda: _hub_count(hub_db) == 3, 30)
            finally:
                consumer.stop()
                await asyncio.wait_for(task, 10)
                await nc.close()

        asyncio.run(scenario())
        assert node.sync.published >= 3  # and audit records (the privacy retention run)
        # `vigil sync status` reads the backlog from the server the node started
        capsys.readouterr()
        assert run(["--config", str(cfg_file), "sync", "status"]) == 0
        status = capsys.readouterr().out
        assert f"site {SITE}: backlog" in status
        assert "not yet in the local stream: 0 events" in status
        server = node.sync.server
    finally:
        HANDLERS.pop("test.echo", None)
        node.stop()
        hub.stop()
    assert server is not None and server.proc is None  # the node stopped its nats-server


def await_leaf(hub: NatsServer, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if hub.leafnodes() == 1:
            return True
        time.sleep(0.05)
    return False


def _status(db: Database, camera: str) -> str | None:
    with db.session() as s:
        row = s.get(HubCameraStatus, (SITE, camera))
        return None if row is None else row.status
