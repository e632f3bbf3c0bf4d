"""The hub's database side: migrations and idempotent storage on embedded PostgreSQL, the
buffer policy on a real nats-server, and the CLI."""

from __future__ import annotations

import asyncio
import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select

from vigil.cli import run
from vigil.events.store import create_event, update_event
from vigil.hub.ingest import store_batch
from vigil.hub.retention import HubRetention, run_hub_retention
from vigil.process import free_port
from vigil.store.db import Database
from vigil.store.models import Event, HubEvent, SyncTombstone
from vigil.sync.edge import BufferLimits, EdgePublisher
from vigil.sync.server import NatsServer, ServerSpec, find_binary

from ..sync.test_updates import check_order_safety


def _event_msgs(n: int) -> list[tuple[str, bytes, dict[str, str]]]:
    return [
        (
            "vigil.s1.events.c1",
            json.dumps(
                {
                    "site": "s1",
                    "uid": f"u{i}",
                    "edge_id": i,
                    "camera": "c1",
                    "kind": "person",
                    "start": "2026-01-01T00:00:00+00:00",
                }
            ).encode(),
            {},
        )
        for i in range(n)
    ]


def test_hub_on_postgres_is_idempotent() -> None:
    """Every migration runs on PostgreSQL 16 (pgserver); a replayed batch stores nothing."""
    pytest.importorskip("pgserver")
    from vigil.hub.pg import embedded_postgres_url

    with tempfile.TemporaryDirectory(prefix="pg", dir="/tmp") as tmp:  # short socket path
        db = Database(embedded_postgres_url(Path(tmp) / "pg"))
        assert store_batch(db, "s1", _event_msgs(20)).events == 20
        again = store_batch(db, "s1", _event_msgs(20))
        assert (again.events, again.duplicates) == (0, 20)
        # another site cannot store under this site's name
        assert store_batch(db, "s2", _event_msgs(5)).events == 0
        with db.session() as s:
            assert s.scalar(select(func.count()).select_from(HubEvent)) == 20
        check_order_safety(db)
        # hub retention: the 20 events of 2026-01-01 are past 30 days
        assert run_hub_retention(db, HubRetention(event_days=30)).events == 20
        # the edge's version triggers (plpgsql here): insert, update, delete each take the next
        e = create_event(db, camera="gate", kind="person", start=datetime.now(UTC))
        update_event(db, e.uid, end=datetime.now(UTC), data_dir=Path(tmp))
        with db.session() as s:
            v = s.scalar(select(Event.sync_version).where(Event.uid == e.uid))
            s.execute(delete(Event).where(Event.uid == e.uid))
        with db.session() as s:
            tomb = s.scalars(select(SyncTombstone)).one()
        assert v is not None and v >= 2 and (tomb.uid, tomb.version) == (e.uid, v + 1)
        db.close()


@pytest.mark.skipif(find_binary() is None, reason="nats-server binary missing")
def test_buffer_full_drops_thumbnails_never_events(tmp_path: Path) -> None:
    """With the hub away and small buffers: old thumbnails are dropped, events are refused by
    the stream and wait in the database (backlog), none is lost."""
    srv = NatsServer(ServerSpec("s1", tmp_path / "js", free_port(), free_port(), "s1"), tmp_path)
    srv.start()
    db = Database(f"sqlite:///{tmp_path / 'vigil.db'}")
    jpeg = b"\xff\xd8" + b"x" * 20_000 + b"\xff\xd9"
    for i in range(60):
        create_event(
            db,
            camera="gate",
            kind="person",
            start=datetime.now(UTC),
            snapshot_jpeg=jpeg,
            data_dir=tmp_path,
            details={"n": i},
        )

    async def scenario() -> None:
        pub = EdgePublisher(
            db,
            "s1",
            srv.url,
            data_dir=tmp_path,
            limits=BufferLimits(events_bytes=10_000, thumbnails_bytes=100_000),
        )
        await pub.connect()
        try:
            published = await pub.publish_pending()
            b = await pub.backlog()
            assert 0 < published < 60
            assert b.unpublished_events == 60 - published
            assert b.link["EVENTS"] == published
            thumbs = (await pub.js.stream_info("THUMBS")).state
            assert thumbs.messages < published  # oldest thumbnails dropped
            assert thumbs.bytes <= 100_000
        finally:
            await pub.close()

    try:
        asyncio.run(scenario())
    finally:
        srv.stop()


def test_cli_sync_status_without_server(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    cfg = tmp_path / "vigil.yaml"
    cfg.write_text(f"sync:\n  site_id: s1\n  port: {free_port()}\n", encoding="utf-8")
    code = run(["--config", str(cfg), "--data-dir", str(tmp_path), "sync", "status"])
    assert code != 0
    assert "not reachable" in capsys.readouterr().err


@pytest.mark.skipif(find_binary() is None, reason="nats-server binary missing")
def test_buffer_holds_only_what_the_hub_has_not_acked(tmp_path: Path) -> None:
    """The site's streams are work queues: what the hub acks leaves the site's disk, so a
    full buffer empties again; a stream made by an older Vigil (every message kept, limits
    retention) is remade at connect with only the messages the hub had not acked, in order."""
    import nats
    from nats.js.api import AckPolicy, ConsumerConfig, RetentionPolicy, StreamConfig

    from vigil.sync.edge import HUB_CONSUMER, subjects

    db = Database(f"sqlite:///{tmp_path / 'vigil.db'}")
    srv = NatsServer(ServerSpec("s1", tmp_path / "js", free_port(), free_port(), "s1"), tmp_path)
    srv.start()

    async def take(js, stream: str, n: int) -> list[bytes]:  # type: ignore[no-untyped-def]
        await js.add_consumer(
            stream, ConsumerConfig(durable_name=HUB_CONSUMER, ack_policy=AckPolicy.EXPLICIT)
        )
        sub = await js.pull_subscribe_bind(HUB_CONSUMER, stream)
        msgs = await sub.fetch(n, timeout=2)
        for m in msgs:
            await m.ack_sync()
        return [m.data for m in msgs]

    async def scenario() -> None:
        # an older site: AUDIT with limits retention, 10 records, the hub acked the first 4
        nc = await nats.connect(srv.url)
        js = nc.jetstream()
        await js.add_stream(StreamConfig(name="AUDIT", subjects=subjects("s1")["AUDIT"]))
        for i in range(10):
            await js.publish("vigil.s1.audit", f"r{i}".encode(), headers={"Nats-Msg-Id": f"a{i}"})
        assert await take(js, "AUDIT", 4) == [f"r{i}".encode() for i in range(4)]
        await nc.close()

        pub = EdgePublisher(db, "s1", srv.url, data_dir=tmp_path)
        await pub.connect()
        try:
            info = await pub.js.stream_info("AUDIT")
            assert info.config.retention == RetentionPolicy.WORK_QUEUE
            assert info.state.messages == 6
            assert await take(pub.js, "AUDIT", 10) == [f"r{i}".encode() for i in range(4, 10)]
            # acked by the hub: gone from the site
            for _ in range(50):
                if not (await pub.backlog()).link["AUDIT"]:
                    break
                await asyncio.sleep(0.05)
            assert (await pub.backlog()).link["AUDIT"] == 0
        finally:
            await pub.close()

    try:
        asyncio.run(scenario())
    finally:
        srv.stop()
        db.close()
