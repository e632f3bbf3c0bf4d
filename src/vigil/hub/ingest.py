"""The hub: a nats-server with a leaf listener (one login per site) and a consumer that pulls
every site's streams into the hub database.

Why pull across the leaf link instead of sourcing the site streams into a hub stream: both
were measured on loopback. With sourcing, after the hub restarted the hub stream resumed only
~40 s later (~20 s after an edge restart), the server's retry back-off. A durable pull
consumer (`hub`) on each site stream, reached through the site's JetStream domain
(`$JS.<site>.API`), resumes as soon as the leaf link is back (~1 s), and it is acked only
after the hub database committed, so the site keeps every message until the hub has it and the
site itself can see its backlog (the messages left in its work-queue streams).

Exactly-once effect: delivery is at least once (a crash between commit and ack, an edge killed
before its consumer state was flushed, both redeliver); every insert is keyed by what the site
made unique (event uid, (site, audit seq)), so a redelivered message changes nothing.

In order per camera after a hub crash or a failed commit: the messages a killed hub had
pulled, or a batch its database refused, would come back only after `ack_wait` (30 s), behind
newer ones. So the hub rebinds after a failed batch, and when it (re)binds a consumer that
still has messages out, it resets it (`$JS.API.CONSUMER.RESET`, nats-server 2.14+): delivery
starts again at once from the first unacked message.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import AckPolicy, ConsumerConfig
from sqlalchemy import delete, select, text, update

from vigil.hub.audit_witness import store_heads
from vigil.hub.objections import objections_for_new_site, store_objections
from vigil.hub.placement import note_site_audit
from vigil.store.db import Database
from vigil.store.models import (
    HubAuditRecord,
    HubCameraStatus,
    HubEvent,
    HubEventTombstone,
    HubSite,
)
from vigil.sync import wire
from vigil.sync.server import HubAccess, connect_site
from vigil.sync.wire import HUB_CONSUMER, STREAMS


@dataclass
class Applied:
    events: int = 0  # new events stored
    updates: int = 0  # stored events replaced by a newer version (completed, identity cleared)
    deleted: int = 0  # events deleted because their site deleted them (tombstones)
    duplicates: int = 0  # copies not newer than what the hub has: nothing changed
    audit: int = 0
    heads: int = 0  # signed audit heads witnessed (0065)
    status: int = 0
    thumbnails: int = 0
    objections: int = 0  # objections to recognition kept (and queued to the other sites)

    def add(self, other: Applied) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


_EVENT_COLUMNS = (
    "site",
    "edge_id",
    "camera",
    "kind",
    "start",
    "end",
    "score",
    "confidence",
    "zone",
    "details",
    "person_uid",
    "version",
    "received_at",
)


def _insert(db: Database, table: Any) -> Any:
    """The dialect's INSERT, which has `on_conflict_do_update`/`_nothing` (both dialects)."""
    if db.engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)


def _event_row(site: str, e: wire.EventCopy, now: datetime) -> dict[str, Any]:
    return {
        "uid": e.uid,
        "site": site,
        "edge_id": e.edge_id,
        "camera": e.camera,
        "kind": e.kind,
        "start": e.start,
        "end": e.end,
        "score": e.score,
        "confidence": e.confidence,
        "zone": e.zone,
        "details": e.details,
        "person_uid": e.person_uid,
        "version": e.version,
        "received_at": now,
    }


Change = wire.EventCopy | wire.EventTombstone


@dataclass
class _Batch:
    """One site's messages, read (`vigil.sync.wire`) and sorted by what they are."""

    latest: dict[str, Change] = field(default_factory=dict)  # uid -> newest copy or tombstone
    audits: dict[int, tuple[wire.AuditCopy, dict[str, Any]]] = field(default_factory=dict)
    heads: list[wire.AuditHead] = field(default_factory=list)
    statuses: list[wire.CameraStatus] = field(default_factory=list)
    thumbs: list[tuple[str, wire.Thumbnail, bytes]] = field(default_factory=list)
    objections: list[wire.ObjectionCopy] = field(default_factory=list)
    duplicates: int = 0

    def add_event(self, site: str, e: Change) -> None:
        have = self.latest.get(e.uid)
        if e.site != site or (have is not None and e.version <= have.version):
            self.duplicates += 1
            return
        if have is not None:
            self.duplicates += 1
        self.latest[e.uid] = e


def _read_batch(site: str, msgs: Iterable[tuple[str, bytes, dict[str, str]]]) -> _Batch:
    """Raises `wire.WireError` for a body it cannot read (the batch then comes again)."""
    out = _Batch()
    for subject, body, headers in msgs:
        subj = wire.parse_subject(subject)
        if subj is None or subj.site != site:
            continue  # not this site's subject: never stored under its name
        if subj.kind == "events":
            out.add_event(site, wire.read_event(body))
        elif subj.kind == "audit":
            record = wire.json_object(body)  # kept whole, newer fields too: the site's record
            copy = wire.AuditCopy.read(record)
            out.audits[copy.seq] = (copy, record)
        elif subj.kind == "heads":
            out.heads.append(wire.AuditHead.read(body))
        elif subj.kind == "status":
            out.statuses.append(wire.CameraStatus.read(body))
        elif subj.kind == "objections":
            out.objections.append(wire.ObjectionCopy.read(body))
        elif subj.kind == "thumbs" and subj.rest:
            thumb = wire.Thumbnail.from_headers(headers)
            if thumb is not None:
                out.thumbs.append((subj.rest, thumb, body))
    return out


def store_batch(
    db: Database,
    site: str,
    msgs: Iterable[tuple[str, bytes, dict[str, str]]],
    thumbs_dir: Path | None = None,
) -> Applied:
    """Apply one batch of (subject, body, headers) from one site in one transaction.

    Idempotent and order-safe: of the copies of an event (one per change at the site) only
    the newest is kept, one `INSERT ... ON CONFLICT (uid) DO UPDATE ... WHERE version <
    excluded.version` stores a batch, and a tombstone deletes the event and stays, so an
    older copy arriving later is not stored again."""
    batch = _read_batch(site, msgs)
    out = Applied(duplicates=batch.duplicates)
    removed_files: list[Path] = []
    with db.session() as s:
        if db.engine.dialect.name == "postgresql":
            # Every lookup here is by a unique key. Until autovacuum first analyzes a fast
            # growing table (up to a minute), the planner believes it tiny and scans it whole
            # for each `uid IN (...)`: a 100k backlog drained at ~1.6k/s instead of ~6k/s.
            s.execute(text("SET LOCAL enable_seqscan = off"))
        now = datetime.now(UTC)
        row = s.scalar(select(HubSite).where(HubSite.name == site))
        if row is None:
            s.add(HubSite(name=site, first_seen=now, last_seen=now))
            objections_for_new_site(s, site)  # honoured there too from now on
        else:
            row.last_seen = now
        out.objections += store_objections(s, site, batch.objections)
        if batch.latest:
            _store_events(s, db, site, batch.latest, now, out, removed_files, thumbs_dir)
        out.audit += _store_audit(s, db, site, batch.audits)
        out.heads += store_heads(s, site, batch.heads)
        for st in batch.statuses:
            cur = s.get(HubCameraStatus, (site, st.camera))
            at = st.at or now
            if cur is None:
                s.add(HubCameraStatus(site=site, camera=st.camera, status=st.status, at=at))
            elif at >= cur.at:
                cur.status, cur.at = st.status, at
            out.status += 1
        if thumbs_dir is not None:
            out.thumbnails += _store_thumbs(s, site, batch.thumbs, thumbs_dir)
    if thumbs_dir is not None:
        for rel in removed_files:  # after the commit: a failed batch deletes nothing
            (thumbs_dir / rel).unlink(missing_ok=True)
    return out


def _store_audit(
    s: Any, db: Database, site: str, records: dict[int, tuple[wire.AuditCopy, dict[str, Any]]]
) -> int:
    if not records:
        return 0
    have = set(
        s.scalars(
            select(HubAuditRecord.seq).where(
                HubAuditRecord.site == site, HubAuditRecord.seq.in_(list(records))
            )
        )
    )
    new: list[dict[str, Any]] = [
        {"site": site, "seq": q, "time": a.time, "hash": a.hash, "record": record}
        for q, (a, record) in records.items()
        if q not in have
    ]
    if new:
        s.execute(
            _insert(db, HubAuditRecord).on_conflict_do_nothing(index_elements=["site", "seq"]),
            new,
        )
        note_site_audit(s, site, [n["record"] for n in new])  # site-made deletions
    return len(new)


def _store_thumbs(
    s: Any, site: str, thumbs: list[tuple[str, wire.Thumbnail, bytes]], thumbs_dir: Path
) -> int:
    stored = 0
    for camera, thumb, data in thumbs:
        if s.get(HubEventTombstone, (site, thumb.uid)) is not None:
            continue  # deleted at the site
        cur = s.execute(
            select(HubEvent.site, HubEvent.version).where(HubEvent.uid == thumb.uid)
        ).first()
        if cur is not None and (cur.site != site or cur.version > thumb.version):
            continue  # another site's event, or the picture of an older copy
        rel = _thumb_path(site, camera, thumb.uid)
        path = thumbs_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)  # before its event, if THUMBS was pulled first
        if cur is not None:
            s.execute(update(HubEvent).where(HubEvent.uid == thumb.uid).values(thumbnail=str(rel)))
        stored += 1
    return stored


def _thumb_path(site: str, camera: str, uid: str) -> Path:
    return Path(site) / camera / f"{uid}.jpg"


def _store_events(
    s: Any,
    db: Database,
    site: str,
    latest: dict[str, Change],
    now: datetime,
    out: Applied,
    removed_files: list[Path],
    thumbs_dir: Path | None,
) -> None:
    uids = list(latest)
    dead = dict(
        s.execute(
            select(HubEventTombstone.uid, HubEventTombstone.version).where(
                HubEventTombstone.site == site, HubEventTombstone.uid.in_(uids)
            )
        ).all()
    )
    have = {
        uid: (owner, version)
        for uid, owner, version in s.execute(
            select(HubEvent.uid, HubEvent.site, HubEvent.version).where(HubEvent.uid.in_(uids))
        )
    }
    upserts: list[dict[str, Any]] = []
    tombs: list[wire.EventTombstone] = []
    for uid, e in latest.items():
        if uid in dead and e.version <= dead[uid]:
            out.duplicates += 1  # deleted at the site after this copy was made
            continue
        owner, version = have.get(uid, (site, -1))
        if owner != site or e.version <= version:
            out.duplicates += 1  # older or equal copy, or another site's uid
            continue
        if isinstance(e, wire.EventTombstone):
            tombs.append(e)
            if uid in have:
                out.deleted += 1
            continue
        row = _event_row(site, e, now)
        row["thumbnail"] = None
        if thumbs_dir is not None:  # the picture may have come first (another stream)
            thumb = _thumb_path(site, e.camera, uid)
            if (thumbs_dir / thumb).is_file():
                row["thumbnail"] = str(thumb)
        upserts.append(row)
        if uid in have:
            out.updates += 1
        else:
            out.events += 1
    if upserts:
        # executemany of one cached statement: SQLAlchemy sends it as multi-row VALUES pages
        # on PostgreSQL ("insertmanyvalues") and as sqlite3's executemany on SQLite
        stmt = _insert(db, HubEvent.__table__)  # Core: no ORM bulk-insert bookkeeping
        stmt = stmt.on_conflict_do_update(
            index_elements=["uid"],
            set_={c: stmt.excluded[c] for c in _EVENT_COLUMNS if c != "site"},
            where=(HubEvent.version < stmt.excluded.version) & (HubEvent.site == site),
        )
        s.execute(stmt, upserts)
    if tombs:
        removed_files.extend(_thumb_path(site, t.camera, t.uid) for t in tombs)
        s.execute(
            delete(HubEvent).where(HubEvent.uid.in_([t.uid for t in tombs]), HubEvent.site == site)
        )
        stmt = _insert(db, HubEventTombstone).values(
            [{"uid": t.uid, "site": site, "version": t.version, "deleted_at": now} for t in tombs]
        )
        s.execute(
            stmt.on_conflict_do_update(
                index_elements=["site", "uid"],
                set_={"version": stmt.excluded.version, "deleted_at": stmt.excluded.deleted_at},
                where=HubEventTombstone.version < stmt.excluded.version,
            )
        )


StoreBatch = Callable[
    [Database, str, Iterable[tuple[str, bytes, dict[str, str]]], Path | None], Applied
]


@dataclass
class HubConsumer:
    """Pulls every listed site's streams into `db`, each site through its own account at the
    hub (`connect_site`). `run()` until `stop()`."""

    db: Database
    hub: HubAccess
    sites: list[str]
    thumbs_dir: Path | None = None
    batch: int = 500
    durable: str = HUB_CONSUMER  # the consumer's name on each site stream
    store: StoreBatch = field(default=store_batch, repr=False)  # `vigil bench hub`: a baseline
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
            with contextlib.suppress(Exception):  # a cut link can't be closed politely
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
                            durable_name=self.durable,
                            ack_policy=AckPolicy.EXPLICIT,
                            ack_wait=30,
                            max_ack_pending=self.batch * 4,
                        ),
                    )
                    await _redeliver_orphans(js, stream, self.durable)
                    sub = await js.pull_subscribe_bind(self.durable, stream)
                msgs = await sub.fetch(self.batch, timeout=0.5)
            except (NatsTimeout, TimeoutError):
                continue
            except Exception:  # site unreachable, its server away or its stream remade: rebind
                await _unbind(sub)
                sub = None
                await self._sleep(0.2)
                continue
            batch = [(m.subject, m.data, dict(m.headers or {})) for m in msgs]
            try:
                async with self._write:  # one writer: SQLite allows no more, PostgreSQL is fine
                    applied = await asyncio.to_thread(
                        self.store, self.db, site, batch, self.thumbs_dir
                    )
            except Exception:  # database away or busy: this batch again, before any newer one
                self.errors += 1
                await _unbind(sub)  # the rebind resets the consumer to the batch's start
                sub = None
                await self._sleep(1.0)
                continue
            self.stored.add(applied)
            for m in msgs:  # only after the commit
                with contextlib.suppress(Exception):
                    await m.ack()

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)


async def _unbind(sub: Any) -> None:
    """Drop a pull subscription (else each one dropped stays on the connection)."""
    if sub is not None:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()


async def _redeliver_orphans(js: Any, stream: str, durable: str) -> None:
    """Messages out to nobody (this hub is the consumer's only reader and is not reading
    yet): a killed run's. Reset, so they come again now and in order."""
    info = await js.consumer_info(stream, durable)
    if info.num_ack_pending:
        with contextlib.suppress(Exception):  # an older nats-server: they come after ack_wait
            await js.reset_consumer(stream, durable)
