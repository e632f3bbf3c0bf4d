"""`vigil bench hub`: hub ingest from simulated sites over real nats-servers on 127.0.0.1.

Each simulated site is its own nats-server (JetStream domain = site id) as a leaf node of the
hub; events are published straight into the site's EVENTS stream (the edge database is not
part of this figure). The hub's `HubConsumer` pulls them into the hub database. Baselines in
the same run: the database alone (no NATS) both ways, `store_batch` (one `INSERT ... ON
CONFLICT` a batch) and `store_rows_one_by_one` (the ORM, one row at a time, as before); and
a backlog of the same size drained row by row by a durable consumer of its own into a
database of its own.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path

import nats
from sqlalchemy import func, select

from vigil.bench.report import Figure
from vigil.hub.ingest import Applied, HubConsumer, _event_row, store_batch
from vigil.process import free_port
from vigil.store.db import Database
from vigil.store.models import HubEvent
from vigil.sync import wire
from vigil.sync.edge import STREAMS, BufferLimits, _quiet, stream_configs
from vigil.sync.server import NatsServer, ServerSpec, SiteLogin


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


def store_rows_one_by_one(
    db: Database,
    site: str,
    msgs: Iterable[tuple[str, bytes, dict[str, str]]],
    thumbs_dir: Path | None = None,
) -> Applied:
    """Baseline: the hub's former ingest, events only (one ORM object a row, existing uids
    looked up first), in one transaction a batch."""
    out = Applied()
    events = [
        wire.EventCopy.read(body) for subject, body, _ in msgs if subject.split(".")[2] == "events"
    ]
    now = datetime.now(UTC)
    with db.session() as s:
        have = set(s.scalars(select(HubEvent.uid).where(HubEvent.uid.in_([e.uid for e in events]))))
        for e in events:
            if e.uid in have:
                out.duplicates += 1
                continue
            have.add(e.uid)
            s.add(HubEvent(**_event_row(site, e, now)))
            out.events += 1
    return out


def _count(db: Database) -> int:
    with db.session() as s:
        return int(s.scalar(select(func.count()).select_from(HubEvent)) or 0)


def _db(root: Path, name: str, postgres: bool) -> Database:
    if postgres:
        from vigil.hub.pg import embedded_postgres_url

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


async def _delete_consumers(url: str, durable: str) -> None:
    nc = await nats.connect(url, error_cb=_quiet)
    js = nc.jetstream()
    for stream in STREAMS:
        await js.delete_consumer(stream, durable)
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
        leaf = free_port()
        hub = NatsServer(
            ServerSpec(
                "hub",
                root / "hub-js",
                free_port(),
                free_port(),
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
                    free_port(),
                    free_port(),
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

    # baselines: the database alone, batches of 500 as the consumer stores them, both ways
    rates: dict[str, float] = {}
    for name, store in (("batch", store_batch), ("rows", store_rows_one_by_one)):
        base_db = _db(root, f"baseline-{name}", postgres)
        msgs: list[tuple[str, bytes, dict[str, str]]] = [
            (*_payload("site00", i), {}) for i in range(20_000)
        ]
        t0 = time.monotonic()
        for k in range(0, len(msgs), 500):
            store(base_db, "site00", msgs[k : k + 500], None)
        rates[name] = len(msgs) / (time.monotonic() - t0)
        base_db.close()
        log(f"database alone, {name}: {rates[name]:,.0f} events/s")

    # backlog: published while no consumer reads, drained row by row (a durable consumer of
    # its own, its own database); then another, drained by the hub's consumer. The site streams
    # are work queues: a drained message is gone, and a second consumer is refused while the
    # first exists, so each drain has its own backlog and the row-by-row consumer is deleted.
    total = per_site * len(names)
    drains: dict[str, float] = {}
    for k, name in enumerate(("rows", "batch")):
        log(f"publishing a backlog of {total:,} events on {len(names)} sites")
        await asyncio.gather(
            *(_publish(e.url, n, k * per_site, per_site) for e, n in zip(edges, names, strict=True))
        )
        db = _db(root, f"hub-{name}", postgres)
        consumer = (
            HubConsumer(db, hub.access, names, durable="bench-rows", store=store_rows_one_by_one)
            if name == "rows"
            else HubConsumer(db, hub.access, names)
        )
        task = asyncio.create_task(consumer.run())
        t0 = time.monotonic()
        while _count(db) < total:
            await asyncio.sleep(0.2)
            if time.monotonic() - t0 > 600:
                break
        drains[name] = time.monotonic() - t0
        log(f"backlog drained {name}: {drains[name]:.1f} s")
        if name == "rows":
            consumer.stop()
            await task
            db.close()
            await asyncio.gather(*(_delete_consumers(e.url, "bench-rows") for e in edges))
    drain_s = drains["batch"]

    # sustained: sites publish for `seconds` while the hub ingests
    before = _count(db)
    t0 = time.monotonic()
    counts = [0] * len(names)

    async def site_loop(k: int) -> None:
        nc = await nats.connect(edges[k].url, error_cb=_quiet)
        js = nc.jetstream()
        i = 2 * per_site  # after both backlogs' message ids
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
            "database alone, batches of 500",
            rates["batch"],
            "events/s",
            None,
            True,
            rates["rows"],
            "row by row",
        ),
        Figure(
            f"sustained hub ingest, {len(names)} sites ({ingested:,} events)",
            rate_each,
            "events/s",
            2000,
            True,
            rates["rows"],
            "database alone, row by row",
        ),
        Figure(
            f"drain a {total:,}-event backlog",
            drain_s,
            "s",
            120,
            False,
            drains["rows"],
            "drained row by row",
        ),
    ]
