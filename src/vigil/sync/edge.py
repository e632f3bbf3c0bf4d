"""The edge's publisher: the event store and the audit log, copied into the site's JetStream.

Three local streams, each with its own buffer and policy when full:

| stream   | subjects                                         | full                        |
|----------|--------------------------------------------------|-----------------------------|
| EVENTS   | vigil.<site>.events.<camera>, .status.<camera>,  | new messages refused        |
|          | vigil.<site>.objections                          |                             |
| AUDIT    | vigil.<site>.audit, .heads (signed heads, 0065)  | new messages refused        |
| THUMBS   | vigil.<site>.thumbs.<camera>                     | oldest thumbnails dropped   |

The streams are work queues: a message leaves the site's disk once the hub acks it, so the
buffer holds only what the hub has not stored, and a thumbnail (a face, often) is also dropped
at the site's snapshot retention even if the hub never took it.

Events and audit records are read from the database after a cursor (`sync_cursors`) that moves
only past rows the stream acked, so a refused publish (buffer full, server down, the publisher
killed) leaves them waiting in the database: never dropped, visible in `backlog()`. Events go
in the order they changed (`events.sync_version`, set by triggers, 0014): an event is published
again when it is completed or its person deleted, and a deleted one as a tombstone
(`"deleted": true`). `Nats-Msg-Id` = `<uid>:<version>` (audit: `<site>-audit-<seq>`), so a
replay after a crash is dropped by the stream's duplicate window and, beyond it, by the hub,
which applies a copy only if its version is newer than the one it has.
Objections to recognition recorded here (not those the hub pushed) follow the same way, after
their own cursor (`objections`, by row id), `Nats-Msg-Id` `<site>-objection-<uid>`.
The hub pulls each stream through a durable consumer named `hub` (see `vigil.hub.ingest`).
Subjects and bodies are `vigil.sync.wire`'s, the contract the hub reads with.
"""

from __future__ import annotations

import base64
import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nats
from nats.js.api import DiscardPolicy, RetentionPolicy, StreamConfig
from nats.js.errors import NotFoundError as JsNotFound
from sqlalchemy import delete, func, select

from vigil.privacy import keys, witness
from vigil.store.db import Database
from vigil.store.models import (
    AuditCheckpoint,
    AuditRecord,
    Event,
    Objection,
    Person,
    SyncCursor,
    SyncTombstone,
)
from vigil.sync import wire
from vigil.sync.wire import HUB_CONSUMER, STREAMS

EVENT_CURSOR = "event_versions"  # last sync_version acked by the local stream (0014)
HEAD_CURSOR = "audit_heads"  # seq of the last audit checkpoint acked by the local stream
OBJECTION_CURSOR = "objections"  # last objection id acked by the local stream
MB = 1024 * 1024


async def _quiet(_exc: Exception) -> None:
    """nats-py prints a traceback on every failed reconnect by default; the backlog says it."""


subjects = wire.stream_subjects


@dataclass
class BufferLimits:
    events_bytes: int = 512 * MB
    thumbnails_bytes: int = 256 * MB
    audit_bytes: int = -1  # no limit
    thumbnails_max_age_s: float = 0  # 0: kept until the hub takes them


def stream_configs(site: str, limits: BufferLimits) -> list[StreamConfig]:
    subj = subjects(site)
    queue = RetentionPolicy.WORK_QUEUE
    return [
        StreamConfig(
            name="EVENTS",
            subjects=subj["EVENTS"],
            retention=queue,
            max_bytes=limits.events_bytes,
            discard=DiscardPolicy.NEW,
        ),
        StreamConfig(
            name="AUDIT",
            subjects=subj["AUDIT"],
            retention=queue,
            max_bytes=limits.audit_bytes,
            discard=DiscardPolicy.NEW,
        ),
        StreamConfig(
            name="THUMBS",
            subjects=subj["THUMBS"],
            retention=queue,
            max_bytes=limits.thumbnails_bytes,
            max_age=limits.thumbnails_max_age_s or None,
            discard=DiscardPolicy.OLD,
        ),
    ]


def event_payload(site: str, e: Event, person_uid: str | None = None) -> wire.EventCopy:
    """`person_uid`: the hub's uid of the person recognised, when the hub pushed them."""
    return wire.EventCopy(
        site=site,
        uid=e.uid,
        edge_id=e.id,
        camera=e.camera,
        kind=str(e.kind),
        start=e.start,
        end=e.end,
        score=e.score,
        confidence=e.confidence,
        zone=e.zone,
        details=e.details or {},
        person_uid=person_uid,
        version=e.sync_version,
    )


def tombstone_payload(site: str, t: SyncTombstone) -> wire.EventTombstone:
    """The event was deleted at the site (retention, erasure): the hub deletes its copy."""
    return wire.EventTombstone(site=site, uid=t.uid, camera=t.camera, version=t.version)


def _version(change: Event | SyncTombstone) -> int:
    return change.sync_version if isinstance(change, Event) else change.version


def objection_payload(site: str, o: Objection) -> wire.ObjectionCopy:
    return wire.ObjectionCopy(
        site=site,
        uid=o.uid,
        model=o.model,
        embedding=base64.b64encode(o.embedding).decode(),
        reason=o.reason,
        reference=o.reference,
        recorded_by=o.recorded_by,
        recorded_at=o.recorded_at,
    )


def audit_payload(site: str, r: AuditRecord) -> wire.AuditCopy:
    return wire.AuditCopy(
        site=site,
        seq=r.seq,
        time=r.time,
        hash=r.hash,
        prev_hash=r.prev_hash,
        actor=r.actor,
        role=r.role,
        action=r.action,
        target_kind=r.target_kind,
        target_id=r.target_id,
        camera=r.camera,
        person=r.person,
        reason=r.reason,
        source=r.source,
        details=r.details or {},
    )


def head_message(site: str, cp: AuditCheckpoint, public_key: str = "") -> tuple[str, bytes, str]:
    """(subject, body, Nats-Msg-Id) of a signed checkpoint sent to the hub (0065)."""
    body = wire.AuditHead(
        site=site,
        seq=cp.seq,
        hash=cp.hash,
        time=cp.time,
        signature=cp.signature,
        key_id=cp.key_id,
        public_key=public_key,
    )
    return wire.head_subject(site), body.encode(), wire.head_msg_id(site, cp.seq, cp.hash)


def _cursor(db: Database, name: str) -> int:
    with db.session() as s:
        row = s.get(SyncCursor, name)
        return row.position if row else 0


def _set_cursor(db: Database, name: str, position: int) -> None:
    with db.session() as s:
        row = s.get(SyncCursor, name)
        if row is None:
            s.add(SyncCursor(name=name, position=position))
        else:
            row.position, row.updated_at = position, datetime.now(UTC)


async def waiting(js: Any) -> dict[str, int]:
    """Messages in each of a site's streams: the ones the hub has not acked (work queues)."""
    found: dict[str, int] = {}
    for name in STREAMS:
        with contextlib.suppress(JsNotFound):  # not made yet: holds nothing
            found[name] = (await js.stream_info(name)).state.messages
    return found


@dataclass
class Backlog:
    """What has not reached the hub yet. `unpublished_*`: rows still only in the database;
    `link`: messages in the local streams the hub has not acked."""

    unpublished_events: int
    unpublished_audit: int
    link: dict[str, int]

    @property
    def total(self) -> int:
        return self.unpublished_events + self.unpublished_audit + sum(self.link.values())


class EdgePublisher:
    """Copies new events and audit records into the local streams; call `publish_pending`
    periodically (or `run`). One publisher per site database."""

    def __init__(
        self,
        db: Database,
        site: str,
        nats_url: str,
        *,
        data_dir: Path | None = None,
        limits: BufferLimits | None = None,
        batch: int = 500,
    ) -> None:
        self.db, self.site, self.url = db, site, nats_url
        self.data_dir = data_dir
        self.limits = limits or BufferLimits()
        self.batch = batch
        self.nc: Any = None
        self.js: Any = None
        self._heads_out: list[tuple[int, witness.Head]] = []  # (stream seq, head) not hub-acked
        self._last_head: tuple[int, str] | None = None  # (seq, hash) of the last head sent

    async def connect(self) -> None:
        self.nc = await nats.connect(
            self.url,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            error_cb=_quiet,
            name=f"vigil-edge-{self.site}",
        )
        self.js = self.nc.jetstream()
        for cfg in stream_configs(self.site, self.limits):
            try:
                info = await self.js.stream_info(cfg.name)
            except JsNotFound:
                await self.js.add_stream(cfg)
                continue
            if info.config.retention != cfg.retention:
                await self._remake_stream(cfg)
            else:
                await self.js.update_stream(cfg)

    async def _remake_stream(self, cfg: StreamConfig) -> None:
        """A stream made by an older Vigil kept every message, acked or not (limits
        retention), which NATS can't change in place: keep the messages the hub has not
        acked, make the stream again, put them back in order."""
        try:
            first = (await self.js.consumer_info(cfg.name, HUB_CONSUMER)).ack_floor.stream_seq
        except JsNotFound:
            first = 0
        last = (await self.js.stream_info(cfg.name)).state.last_seq
        kept = []
        for seq in range(first + 1, last + 1):
            with contextlib.suppress(JsNotFound):  # dropped (old thumbnails)
                kept.append(await self.js.get_msg(cfg.name, seq))
        await self.js.delete_stream(cfg.name)
        await self.js.add_stream(cfg)
        for m in kept:
            await self.js.publish(m.subject, m.data, headers=m.headers)

    async def close(self) -> None:
        if self.nc is not None:
            try:
                await self.nc.drain()
            except Exception:  # reconnecting or closed: just close
                with contextlib.suppress(Exception):
                    await self.nc.close()
            self.nc = None

    async def publish_status(self, camera: str, status: str) -> None:
        body = wire.CameraStatus(site=self.site, camera=camera, status=status, at=datetime.now(UTC))
        await self.js.publish(wire.status_subject(self.site, camera), body.encode())

    async def publish_pending(self) -> int:
        """Publish every event and audit record after the cursors; return how many were
        acked. Stops at the first refused publish (buffer full, server away) and keeps the
        rest for the next call."""
        done = (
            await self._publish_events()
            + await self._publish_objections()
            + await self._publish_audit()
        )
        await self._publish_heads()
        await self._note_hub_acked_heads()
        return done

    async def _publish_events(self) -> int:
        """Events in the order they changed (`sync_version`, kept by database triggers):
        new ones, updated ones (completed, identity cleared) and deleted ones (tombstones)."""
        done = 0
        while True:
            after = _cursor(self.db, EVENT_CURSOR)
            with self.db.session() as s:
                rows = list(
                    s.scalars(
                        select(Event)
                        .where(Event.sync_version > after)
                        .order_by(Event.sync_version)
                        .limit(self.batch)
                    )
                )
                gone = list(
                    s.scalars(
                        select(SyncTombstone)
                        .where(SyncTombstone.version > after)
                        .order_by(SyncTombstone.version)
                        .limit(self.batch)
                    )
                )
                hub_uids: dict[int, str] = {
                    pid: huid
                    for pid, huid in s.execute(
                        select(Person.id, Person.hub_uid).where(
                            Person.id.in_([e.person_id for e in rows if e.person_id]),
                            Person.hub_uid.is_not(None),
                        )
                    )
                    if huid is not None  # narrows only: the query has no NULL hub_uid
                }
            changes: list[tuple[int, Event | SyncTombstone]] = sorted(
                [(e.sync_version, e) for e in rows] + [(g.version, g) for g in gone],
                key=lambda c: c[0],
            )
            # a list cut by its limit: nothing after its last item may go before the rest
            for cut in (rows, gone):
                if len(cut) == self.batch:
                    changes = [c for c in changes if c[0] <= _version(cut[-1])]
            if not changes:
                return done
            acked = await self._publish_batch(
                [self._change_message(c, hub_uids) for _, c in changes]
            )
            if acked:
                _set_cursor(self.db, EVENT_CURSOR, changes[acked - 1][0])
                with self.db.session() as s:  # published: the tombstones are no longer needed
                    s.execute(
                        delete(SyncTombstone).where(SyncTombstone.version <= changes[acked - 1][0])
                    )
                await self._publish_thumbnails(
                    [c for _, c in changes[:acked] if isinstance(c, Event)]
                )
                done += acked
            if acked < len(changes):
                return done

    def _change_message(
        self, change: Event | SyncTombstone, hub_uids: dict[int, str]
    ) -> tuple[str, bytes, str]:
        subject = wire.event_subject(self.site, change.camera)
        body: wire.EventTombstone | wire.EventCopy
        if isinstance(change, SyncTombstone):
            body = tombstone_payload(self.site, change)
        else:
            body = event_payload(self.site, change, hub_uids.get(change.person_id or 0))
        return subject, body.encode(), wire.event_msg_id(change.uid, body.version)

    async def _publish_thumbnails(self, events: list[Event]) -> None:
        """Best effort: a thumbnail that cannot be published is not retried (the hub asks the
        site for it on demand)."""
        if self.data_dir is None:
            return
        for e in events:
            if not e.snapshot:
                continue
            path = self.data_dir / e.snapshot
            try:
                data = path.read_bytes()
            except OSError:
                continue
            try:
                await self.js.publish(
                    wire.thumb_subject(self.site, e.camera),
                    data,
                    headers=wire.Thumbnail(e.uid, e.sync_version).headers(),
                )
            except Exception:  # best effort, see above
                return

    async def _publish_audit(self) -> int:
        done = 0
        while True:
            after = _cursor(self.db, "audit")
            with self.db.session() as s:
                rows = list(
                    s.scalars(
                        select(AuditRecord)
                        .where(AuditRecord.seq > after)
                        .order_by(AuditRecord.seq)
                        .limit(self.batch)
                    )
                )
            if not rows:
                return done
            acked = await self._publish_batch(
                [
                    (
                        wire.audit_subject(self.site),
                        audit_payload(self.site, r).encode(),
                        wire.audit_msg_id(self.site, r.seq),
                    )
                    for r in rows
                ]
            )
            if acked:
                _set_cursor(self.db, "audit", rows[acked - 1].seq)
                done += acked
            if acked < len(rows):
                return done

    async def _publish_heads(self) -> None:
        """Every signed checkpoint after the cursor (a seq), in order, and the newest one
        whenever it is not the one this publisher sent last: a chain cut and grown again
        signs a seq anew, and the hub must see that. The stream (`Nats-Msg-Id`) and the hub
        (site, seq, hash) drop a head sent twice."""
        after = _cursor(self.db, HEAD_CURSOR)
        with self.db.session() as s:
            cps = list(
                s.scalars(
                    select(AuditCheckpoint)
                    .where(AuditCheckpoint.seq > after)
                    .order_by(AuditCheckpoint.seq)
                    .limit(self.batch)
                )
            )
            if not cps:
                newest = s.scalars(
                    select(AuditCheckpoint).order_by(AuditCheckpoint.seq.desc()).limit(1)
                ).first()
                if newest is not None and (newest.seq, newest.hash) != self._last_head:
                    cps = [newest]
        ring = keys.keyring(self.data_dir) if self.data_dir is not None and cps else {}
        for cp in cps:
            entry = ring.get(cp.key_id)
            pem = keys.public_pem(entry.key.public) if entry is not None else ""
            subject, body, msg_id = head_message(self.site, cp, pem)
            try:
                ack = await self.js.publish(
                    subject, body, timeout=2.0, headers={"Nats-Msg-Id": msg_id}
                )
            except Exception:  # refused, disconnected or timed out: next round
                return
            _set_cursor(self.db, HEAD_CURSOR, max(after, cp.seq))
            self._last_head = (cp.seq, cp.hash)
            self._heads_out.append((ack.seq, witness.Head.of(cp, self.site)))

    async def _note_hub_acked_heads(self) -> None:
        """Heads the hub has acked (stored) are witnessed by it: noted in `audit_witnessed`."""
        if not self._heads_out:
            return
        try:
            floor = (await self.js.consumer_info("AUDIT", HUB_CONSUMER)).ack_floor.stream_seq
        except Exception:  # no hub consumer yet, or the server away: ask again next round
            return
        acked = [h for seq, h in self._heads_out if seq <= floor]
        if acked:
            witness.note(self.db, witness.HUB, acked)
            self._heads_out = [(seq, h) for seq, h in self._heads_out if seq > floor]

    async def _publish_objections(self) -> int:
        """Objections recorded at this site (the hub's own pushes are not sent back)."""
        after = _cursor(self.db, OBJECTION_CURSOR)
        with self.db.session() as s:
            rows = list(
                s.scalars(
                    select(Objection)
                    .where(Objection.id > after, Objection.origin_site.is_(None))
                    .order_by(Objection.id)
                    .limit(self.batch)
                )
            )
            items = [
                (
                    wire.objection_subject(self.site),
                    objection_payload(self.site, o).encode(),
                    wire.objection_msg_id(self.site, o.uid),
                )
                for o in rows
            ]
        acked = await self._publish_batch(items) if items else 0
        if acked:
            _set_cursor(self.db, OBJECTION_CURSOR, rows[acked - 1].id)
        return acked

    async def _publish_batch(self, items: list[tuple[str, bytes, str]]) -> int:
        """Publish in order, each awaiting its ack; return how many leading items the stream
        acked. (Pipelined `publish_async` futures never resolved when the stream refused a
        message here, so this stays one at a time: ~5k/s, far above a site's event rate.)"""
        acked = 0
        for subject, body, msg_id in items:
            try:
                await self.js.publish(subject, body, timeout=2.0, headers={"Nats-Msg-Id": msg_id})
            except Exception:  # refused (buffer full), disconnected or timed out
                break
            acked += 1
        return acked

    async def backlog(self) -> Backlog:
        ev_after, au_after = _cursor(self.db, EVENT_CURSOR), _cursor(self.db, "audit")
        with self.db.session() as s:
            ev = (
                s.scalar(
                    select(func.count()).select_from(Event).where(Event.sync_version > ev_after)
                )
                or 0
            ) + (
                s.scalar(
                    select(func.count())
                    .select_from(SyncTombstone)
                    .where(SyncTombstone.version > ev_after)
                )
                or 0
            )
            au = s.scalar(
                select(func.count()).select_from(AuditRecord).where(AuditRecord.seq > au_after)
            )
        return Backlog(int(ev or 0), int(au or 0), await waiting(self.js))
