"""Hub retention: the hub keeps its copies of the sites' data only as long as configured.

Events (with their thumbnails) whose start is older than `retention.event_days` of hub.yaml
(default 30, the sites' footage default) are deleted, with the tombstones of events the sites
deleted; the copies of the sites' audit records older than `retention.audit_days` (default
365, the sites' audit default) are deleted, and so are the sites' signed heads as old (but
each site's newest: 0065). The sites keep their own chains and checkpoints; the heads the hub
keeps are the witness of what a site's chain held. `HubNode` runs a pass
on start and hourly (`schedule_hub_retention`, a job of its `vigil.maintenance` scheduler);
`vigil hub retention` runs one now.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, func, select

from vigil.hub.config import HubConfig
from vigil.maintenance import Job, Scheduler
from vigil.store.db import Database, rowcount
from vigil.store.models import HubAuditRecord, HubEvent, HubEventTombstone
from vigil.store.models.hub import HubAuditHead

log = logging.getLogger(__name__)
CHUNK = 5000  # rows a transaction, so a first pass over a large backlog never holds one long


@dataclass(frozen=True)
class HubRetention:
    event_days: float = 30
    audit_days: float = 365

    @classmethod
    def from_config(cls, cfg: HubConfig) -> HubRetention:
        return cls(event_days=cfg.retention.event_days, audit_days=cfg.retention.audit_days)


@dataclass
class HubRetentionRun:
    events: int = 0
    thumbnails: int = 0
    audit: int = 0
    tombstones: int = 0
    heads: int = 0


def run_hub_retention(
    db: Database,
    policy: HubRetention,
    thumbs_dir: Path | None = None,
    now: datetime | None = None,
) -> HubRetentionRun:
    now = now or datetime.now(UTC)
    event_cut = now - timedelta(days=policy.event_days)
    audit_cut = now - timedelta(days=policy.audit_days)
    out = HubRetentionRun()
    while True:
        with db.session() as s:
            rows = s.execute(
                select(HubEvent.id, HubEvent.thumbnail)
                .where(HubEvent.start < event_cut)
                .limit(CHUNK)
            ).all()
            if not rows:
                break
            s.execute(delete(HubEvent).where(HubEvent.id.in_([r.id for r in rows])))
        out.events += len(rows)
        for r in rows:  # after the commit
            if r.thumbnail and thumbs_dir is not None:
                path = thumbs_dir / r.thumbnail
                if path.is_file():
                    path.unlink()
                    out.thumbnails += 1
    with db.session() as s:
        out.tombstones = rowcount(
            s.execute(delete(HubEventTombstone).where(HubEventTombstone.deleted_at < event_cut))
        )
    while True:
        with db.session() as s:
            keys = s.execute(
                select(HubAuditRecord.site, HubAuditRecord.seq)
                .where(HubAuditRecord.time < audit_cut)
                .limit(CHUNK)
            ).all()
            for site in {k.site for k in keys}:
                seqs = [k.seq for k in keys if k.site == site]
                s.execute(
                    delete(HubAuditRecord).where(
                        HubAuditRecord.site == site, HubAuditRecord.seq.in_(seqs)
                    )
                )
        out.audit += len(keys)
        if len(keys) < CHUNK:
            break
    with db.session() as s:
        newest = select(func.max(HubAuditHead.id)).group_by(HubAuditHead.site)
        out.heads = rowcount(
            s.execute(
                delete(HubAuditHead).where(
                    HubAuditHead.time < audit_cut, HubAuditHead.id.not_in(newest)
                )
            )
        )
    return out


def schedule_hub_retention(
    scheduler: Scheduler,
    db: Database,
    policy: HubRetention,
    thumbs_dir: Path | None,
    every_s: float = 3600,
) -> Job:
    """A pass on start, then `every_s` after each ends, on the hub node's `scheduler`; what
    went is logged; a failed pass is logged by the scheduler and tried again at its turn."""

    def one_pass() -> HubRetentionRun:
        run = run_hub_retention(db, policy, thumbs_dir)
        if run.events or run.audit:
            log.info("hub retention: deleted %s", run)
        return run

    return scheduler.add("hub retention", one_pass, every_s=every_s)
