"""The hub: a nats-server with a leaf listener (one login per site) and a consumer that pulls
every site's streams into the hub database.

Why pull across the leaf link instead of sourcing the site streams into a hub stream: both
were measured on loopback. With sourcing, after the hub restarted the hub stream resumed only
~40 s later (~20 s after an edge restart), the server's retry back-off. A durable pull
consumer (`hub`) on each site stream, reached through the site's JetStream domain
(`$JS.<site>.API`), resumes as soon as the leaf link is back (~1 s), and it is acked only
after the hub database committed, so the site keeps every message until the hub has it and the
site itself can see its backlog (the consumer's pending count).

Exactly-once effect: delivery is at least once (a crash between commit and ack, an edge killed
before its consumer state was flushed, both redeliver); every insert is keyed by what the site
made unique (event uid, (site, audit seq)), so a redelivered message changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import AckPolicy, ConsumerConfig
from sqlalchemy import select

from vigil.store.db import Database
from vigil.store.models import HubAuditRecord, HubCameraStatus, HubEvent, HubSite
from vigil.sync.edge import HUB_CONSUMER, STREAMS
from vigil.sync.server import HubAccess, connect_site


def _dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value).astimezone(UTC)


@dataclass
class Applied:
    events: int = 0
    duplicates: int = 0
    audit: int = 0
    status: int = 0
    thumbnails: int = 0


def store_batch(
    db: Database,
    site: str,
    msgs: Iterable[tuple[str, bytes, dict[str, str]]],
    thumbs_dir: Path | None = None,
) -> Applied:
    """Apply one batch of (subject, body, headers) from one site in one transaction;
    idempotent."""
    out = Applied()
    events: list[dict[str, Any]] = []
    audits: list[dict[str, Any]] = []
    statuses: list[dict[str, Any]] = []
    thumbs: list[tuple[str, str, bytes]] = []
    for subject, body, headers in msgs:
        parts = subject.split(".")
        if len(parts) < 3 or parts[0] != "vigil" or parts[1] != site:
            continue  # not this site's subject: never stored under its name
        kind = parts[2]
        if kind == "events":
            events.append(json.loads(body))
        elif kind == "audit":
            audits.append(json.loads(body))
        elif kind == "status":
            statuses.append(json.loads(body))
        elif kind == "thumbs" and len(parts) > 3:
            uid = headers.get("Vigil-Event", "")
            if uid:
                thumbs.append((parts[3], uid, body))
    with db.session() as s:
        now = datetime.now(UTC)
        row = s.scalar(select(HubSite).where(HubSite.name == site))
        if row is None:
            s.add(HubSite(name=site, first_seen=now, last_seen=now))
        else:
            row.last_seen = now
        if events:
            uids = {e["uid"] for e in events}
            have = set(s.scalars(select(HubEvent.uid).where(HubEvent.uid.in_(uids))))
            for e in events:
                if e["uid"] in have or e.get("site") != site:
                    out.duplicates += 1
                    continue
                have.add(e["uid"])
                s.add(
                    HubEvent(
                        uid=e["uid"],
                        site=site,
                        edge_id=e["edge_id"],
                        camera=e["camera"],
                        kind=e["kind"],
                        start=_dt(e["start"]),
                        end=_dt(e.get("end")),
                        score=e.get("score"),
                        confidence=e.get("confidence"),
                        zone=e.get("zone"),
                        details=e.get("details") or {},
                        person_uid=e.get("person_uid"),
                        received_at=now,
                    )
                )
                out.events += 1
        if audits:
            seqs = {a["seq"] for a in audits}
            have_seq = set(
                s.scalars(
                    select(HubAuditRecord.seq).where(
                        HubAuditRecord.site == site, HubAuditRecord.seq.in_(seqs)
                    )
                )
            )
            for a in audits:
                if a["seq"] in have_seq:
                    continue
                have_seq.add(a["seq"])
                s.add(
                    HubAuditRecord(
                        site=site, seq=a["seq"], time=_dt(a["time"]), hash=a["hash"], record=a
                    )
                )
                out.audit += 1
        for st in statuses:
            cur = s.get(HubCameraStatus, (site, st["camera"]))
            at = _dt(st["at"]) or now
            if cur is None:
                s.add(HubCameraStatus(site=site, camera=st["camera"], status=st["status"], at=at))
            elif at >= cur.at:
                cur.status, cur.at = st["status"], at
            out.status += 1
        if thumbs and thumbs_dir is not None:
            for camera, uid, data in thumbs:
                rel = Path(site) / camera / f"{uid}.jpg"
                path = thumbs_dir / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
                ev = s.scalar(select(HubEvent).where(HubEvent.uid == uid))
                if ev is not None:
                    ev.thumbnail = str(rel)
                out.thumbnails += 1
    return out


@dataclass
class HubConsumer:
    """Pulls every listed site's streams into `db`, each site through its own account at the
    hub (`connect_site`). `run()` until `stop()`."""

    db: Database
    hub: HubAccess
    sites: list[str]
    thumbs_dir: Path | None = None
    batch: int = 500
    stored: Applied = field(default_factory=Applied)
    errors: int = 0  # batches that failed to store (redelivered later)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _write: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def run(self) -> None:
        await asyncio.gather(*(self._site(site) for site in self.sites))

    async def _site(self, site: str) -> None:
        nc = await connect_site(self.hub, site)
        try:
            await asyncio.gather(*(self._pull(nc, site, stream) for stream in STREAMS))
        finally:
            # not drain(): a pull subscription's undelivered buffer can keep it waiting for
            # its 30 s timeout; unacked messages are simply redelivered to the next run
            with contextlib.suppress(Exception):
                await nc.flush(timeout=1)  # the last acks
            await nc.close()

    def stop(self) -> None:
        self._stop.set()

    async def _pull(self, nc: Any, site: str, stream: str) -> None:
        js = nc.jetstream(domain=site)
        sub = None
        while not self._stop.is_set():
            try:
                if sub is None:
                    await js.add_consumer(
                        stream,
                        ConsumerConfig(
                            durable_name=HUB_CONSUMER,
                            ack_policy=AckPolicy.EXPLICIT,
                            ack_wait=30,
                            max_ack_pending=self.batch * 4,
                        ),
                    )
                    sub = await js.pull_subscribe_bind(HUB_CONSUMER, stream)
                msgs = await sub.fetch(self.batch, timeout=0.5)
            except (NatsTimeout, TimeoutError):
                continue
            except Exception:  # site unreachable (link down, site's server away): retry
                await self._sleep(0.2)
                continue
            batch = [(m.subject, m.data, dict(m.headers or {})) for m in msgs]
            try:
                async with self._write:  # one writer: SQLite allows no more, PostgreSQL is fine
                    applied = await asyncio.to_thread(
                        store_batch, self.db, site, batch, self.thumbs_dir
                    )
            except Exception:  # database away or busy: not acked, redelivered after ack_wait
                self.errors += 1
                await self._sleep(1.0)
                continue
            for name in ("events", "duplicates", "audit", "status", "thumbnails"):
                setattr(self.stored, name, getattr(self.stored, name) + getattr(applied, name))
            for m in msgs:  # only after the commit
                with contextlib.suppress(Exception):
                    await m.ack()

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)
