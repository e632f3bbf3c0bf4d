"""`vigil bench hub`: hub ingest from simulated sites over real nats-servers on 127.0.0.1.

Each simulated site is its own nats-server (JetStream domain = site id) as a leaf node of the
hub; events are published straight into the site's EVENTS stream (the edge database is not
part of this figure). The hub's `HubConsumer` pulls them into the hub database. Baseline in the
same run: `store_batch` into a fresh database of the same kind, no NATS at all (the database's
own ceiling).
"""

from __future__ import annotations

import asyncio
import json
import socket
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import nats
from sqlalchemy import func, select

from vigil.bench.report import Figure
from vigil.store.db import Database
from vigil.store.models import HubEvent
from vigil.sync.edge import BufferLimits, _quiet, stream_configs
from vigil.sync.hub import HubConsumer, store_batch
from vigil.sync.server import NatsServer, ServerSpec, SiteLogin


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _payload(site: str, i: int) -> tuple[str, bytes]:
    uid = str(uuid.uuid4())
    body = {
        "site": site,
        "uid": uid,
        "edge_id": i,
        "camera": f"cam{i % 20}",
        "kind": "person",
        "start": datetime.now(UTC).isoformat(),
        "end": None,
        "score": None,
        "confidence": None,
        "zone": None,
        "details": {"track": i},
    }
    return f"vigil.{site}.events.cam{i % 20}", json.dumps(body).encode()


def _count(db: Database) -> int:
    with db.session() as s:
        return int(s.scalar(select(func.count()).select_from(HubEvent)) or 0)


def _db(root: Path, name: str, postgres: bool) -> Database:
    if postgres:
        from vigil.sync.pg import embedded_postgres_url

        return Database(embedded_postgres_url(root / f"pg-{name}"))
    return Database(f"sqlite:///{root / name / 'hub.db'}")


async def _publish(url: str, site: str, start: int, n: int) -> None:
    nc = await nats.connect(url, error_cb=_quiet)
    js = nc.jetstream()
    for i in range(start, start + n):
        subject, body = _payload(site, i)
        await js.publish_async(subject, body, headers={"Nats-Msg-Id": f"{site}-{i}"})
    await js.publish_async_completed()
    await nc.close()


def run(
    sites: int = 10,
    seconds: float = 20.0,
    backlog: int = 100_000,
    postgres: bool = False,
    log: Callable[[str], None] = print,
) -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="vbh", dir="/tmp") as tmp:
        root = Path(tmp)
        names = [f"site{i:02d}" for i in range(sites)]
        leaf = _port()
        hub = NatsServer(
            ServerSpec(
                "hub",
                root / "hub-js",
                _port(),
                _port(),
                "hub",
                leaf_port=leaf,
                sites=[SiteLogin(n, "pw-" + n) for n in names],
                hub_secret="bench-hub-secret",
            ),
            root,
        )
        hub.start()
        edges = [
            NatsServer(
                ServerSpec(
                    n,
                    root / f"{n}-js",
                    _port(),
                    _port(),
                    n,
                    hub_url=f"nats-leaf://{n}:pw-{n}@127.0.0.1:{leaf}",
                ),
                root,
            )
            for n in names
        ]
        try:
            for e in edges:
                e.start()
            while hub.leafnodes() < sites:
                time.sleep(0.05)
            return asyncio.run(_run(root, hub, edges, names, seconds, backlog, postgres, log))
        finally:
            for e in edges:
                e.stop()
            hub.stop()


async def _run(
    root: Path,
    hub: NatsServer,
    edges: list[NatsServer],
    names: list[str],
    seconds: float,
    backlog: int,
    postgres: bool,
    log: Callable[[str], None],
) -> list[Figure]:
    for e in edges:
        nc = await nats.connect(e.url, error_cb=_quiet)
        for cfg in stream_configs(e.spec.domain, BufferLimits()):
            await nc.jetstream().add_stream(cfg)
        await nc.close()
    per_site = backlog // len(names)

    # baseline: the database alone, batches of 500 as the consumer stores them
    base_db = _db(root, "baseline", postgres)
    msgs = [(*_payload("site00", i), {}) for i in range(20_000)]
    t0 = time.monotonic()
    for k in range(0, len(msgs), 500):
        store_batch(base_db, "site00", msgs[k : k + 500])
    base_rate = len(msgs) / (time.monotonic() - t0)
    base_db.close()
    log(f"baseline: {base_rate:,.0f} events/s straight into the database")

    # backlog: published while the hub consumer is off, then drained
    log(f"publishing a backlog of {per_site * len(names):,} events on {len(names)} sites")
    await asyncio.gather(
        *(_publish(e.url, n, 0, per_site) for e, n in zip(edges, names, strict=True))
    )
    db = _db(root, "hub", postgres)
    consumer = HubConsumer(db, hub.access, names)
    task = asyncio.create_task(consumer.run())
    t0 = time.monotonic()
    total = per_site * len(names)
    while _count(db) < total:
        await asyncio.sleep(0.2)
        if time.monotonic() - t0 > 600:
            break
    drain_s = time.monotonic() - t0
    log(f"backlog drained in {drain_s:.1f} s")

    # sustained: sites publish for `seconds` while the hub ingests
    before = _count(db)
    t0 = time.monotonic()
    counts = [0] * len(names)

    async def site_loop(k: int) -> None:
        nc = await nats.connect(edges[k].url, error_cb=_quiet)
        js = nc.jetstream()
        i = per_site
        while time.monotonic() - t0 < seconds:
            for _ in range(50):
                subject, body = _payload(names[k], i)
                await js.publish_async(subject, body, headers={"Nats-Msg-Id": f"{names[k]}-{i}"})
                i += 1
            await js.publish_async_completed()
            counts[k] += 50
            await asyncio.sleep(0)
        await nc.close()

    await asyncio.gather(*(site_loop(k) for k in range(len(names))))
    published = sum(counts)
    while _count(db) < before + published and time.monotonic() - t0 < seconds + 120:
        await asyncio.sleep(0.1)
    elapsed = time.monotonic() - t0
    ingested = _count(db) - before
    rate_each = ingested / elapsed
    consumer.stop()
    await task
    db.close()
    return [
        Figure(
            f"sustained hub ingest, {len(names)} sites ({ingested:,} events)",
            rate_each,
            "events/s",
            2000,
            True,
            base_rate,
            "store_batch alone",
        ),
        Figure(
            f"drain a {total:,}-event backlog",
            drain_s,
            "s",
            120,
            False,
            total / base_rate,
            "store_batch alone",
        ),
    ]
